"""Python side of the engine: loads user scripts by path and formats errors.

Compiled into the engine as the module `_oe_pyproc_runtime`, and imported as
`oe_pyproc.engine_runtime` by the stand-in's `load_module`, so both load
scripts the same way; only the standard library may be used here.
"""
import importlib
import importlib.util
import os
import sys
import traceback

SCRIPT_MODULE_PREFIX = "_oe_pyproc_script_"


def script_module_name(instance_id, path):
    """A module name no import statement can collide with, so a script called
    signal.py loads without shadowing the standard library's signal."""
    stem = os.path.splitext(os.path.basename(path))[0]
    safe = "".join(c if c.isalnum() or c == "_" else "_" for c in stem)
    return "%s%d_%s" % (SCRIPT_MODULE_PREFIX, instance_id, safe)


def load_script(path, module_name):
    """Executes the script at `path` as a fresh module named `module_name`."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError("script not found: %s" % path)
    folder = os.path.dirname(path)
    # Appended, never prepended: helper modules beside the script import,
    # but a helper named like a stdlib module cannot hide the real one.
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load %s as a Python module (is it a .py file?)" % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _installed_folders():
    """Where installed packages live: never re-imported, even when an env sits
    inside the script's folder (project/.venv beside project/script.py)."""
    import site

    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    folders.update(getattr(site, "getsitepackages", lambda: [])())
    return tuple(os.path.normcase(os.path.abspath(f)) + os.sep for f in folders)


def _is_helper(module, folder, installed):
    location = getattr(module, "__file__", None)
    if not location or not location.endswith(".py"):  # extension modules cannot be loaded twice
        return False
    location = os.path.normcase(os.path.abspath(location))
    return location.startswith(folder) and not location.startswith(installed)


def forget_helpers(script_path):
    """Drops the Python modules imported from the script's folder, so that the
    next import re-executes them; other instances keep the objects they hold."""
    folder = os.path.normcase(os.path.dirname(os.path.abspath(script_path))) + os.sep
    installed = _installed_folders()
    for name, module in list(sys.modules.items()):
        if not name.startswith(SCRIPT_MODULE_PREFIX) and _is_helper(module, folder, installed):
            del sys.modules[name]
    importlib.invalidate_caches()


def unload(module_name):
    sys.modules.pop(module_name, None)


def format_exception(exc_type, exc_value, exc_traceback):
    """The traceback as Python prints it, without the engine's own frames."""
    return "".join(traceback.format_exception(exc_type, exc_value, exc_traceback)).rstrip()


def describe(value):
    """Type and value, as an error message should name a bad argument."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return "%s %s" % (type(value).__name__, text)
