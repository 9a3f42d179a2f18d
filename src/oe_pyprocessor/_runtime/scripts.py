"""Loading a module's script by path, forgetting it, and its errors' tracebacks."""
import importlib
import importlib.util
import os
import sys
import traceback

FALLBACK_PREFIX = "oe_script_"

# The modules loaded from scripts, by the id of the instance (or stand-in load) that owns each:
# id -> module. One of those named like a script holds its name in sys.modules.
_loaded = {}


def script_module_name(path):
    """The published plugin's name for a script's module: the file's stem, so that pickle,
    multiprocessing's spawn and `import <stem>` from a helper find it. A stem that is not an
    identifier, or that names another importable module (signal.py, numpy.py), gets
    "oe_script_<stem>" instead: the script neither hides that module nor is hidden by it."""
    path = os.path.abspath(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    if stem.isidentifier() and not _names_another_module(stem, path):
        return stem
    return FALLBACK_PREFIX + "".join(c if c.isalnum() or c == "_" else "_" for c in stem)


def _is_ours(module):
    return any(module is loaded for loaded in _loaded.values())


def _names_another_module(name, path):
    present = sys.modules.get(name)
    if present is not None:
        return not _is_ours(present)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return True
    origin = getattr(spec, "origin", None) if spec is not None else None
    return spec is not None and not (origin and os.path.normcase(os.path.abspath(origin)) == os.path.normcase(path))


def load_script(path, owner):
    """Executes the script at `path` as a fresh module owned by `owner` (an instance id); the module
    is in sys.modules under its name while it runs its code and after, until another load of that
    name or `unload(owner)`."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError("script not found: %s" % path)
    folder = os.path.dirname(path)
    # Appended, never prepended: helper modules beside the script import,
    # but a helper named like a stdlib module cannot hide the real one.
    if folder not in sys.path:
        sys.path.append(folder)
    name = script_module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load %s as a Python module (is it a .py file?)" % path)
    module = importlib.util.module_from_spec(spec)
    unload(owner)
    _loaded[owner] = module
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        unload(owner)
        raise
    return module


def unload(owner):
    """Forgets `owner`'s module; its name passes to another loaded module of that name, if any."""
    module = _loaded.pop(owner, None)
    if module is None:
        return
    name = module.__name__
    if sys.modules.get(name) is module:
        del sys.modules[name]
        for other in _loaded.values():
            if other.__name__ == name:
                sys.modules[name] = other
                break


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
        if not _is_ours(module) and _is_helper(module, folder, installed):
            del sys.modules[name]
    importlib.invalidate_caches()


def format_exception(exc_type, exc_value, exc_traceback):
    """The traceback as Python prints it, without the engine's own frames."""
    return "".join(traceback.format_exception(exc_type, exc_value, exc_traceback)).rstrip()
