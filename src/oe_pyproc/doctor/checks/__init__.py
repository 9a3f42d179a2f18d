"""One module per check, in the order the doctor prints them.

Each module has ``ID`` (stable, listed in the README), ``TITLE`` and
``check(context) -> Finding``; it reads files and prints nothing. A new cause of
failure is a new module here, its entry below and its test.
"""
from importlib import import_module

CHECK_MODULES = [
    "python_home", "python_version", "venv_base", "libpython", "architecture", "python_runs", "numpy",
    "numpy_abi", "pip_over_conda", "user_site", "pth_files", "python3_dll", "dll_dependencies",
    "dll_conflicts", "glibcxx", "pip_interpreter", "environment_variables", "sys_executable",
    "gui_folder", "plugin_installed", "engine", "resolved_home", "script",
]


def all_checks():
    return [import_module(__name__ + "." + name) for name in CHECK_MODULES]
