"""Which Python Homes the plugin can run: one rule for `setup`, the doctor and the plugin's loader.

The loader (cpp/loader) loads the engine built for the home's Python version, from the home's
site-packages (``oe_pyproc/engines/``, where ``pip install`` and the conda package put it) or from
the GUI's shared folder (``shared-api10/python-processor/``, where the Plugin Installer zip puts
one engine per Python version). A home is usable when an engine for its version is found there.
The pinned version's engine ships in every plugin build, so a home of that version is usable even
before the plugin is installed.
"""
import os
from typing import List, Optional, Sequence

from . import PINNED_PYTHON
from .folders import MACOS, WINDOWS

ENGINES_IN_SHARED = "python-processor"  # <shared-api10>/python-processor/ holds the zip's engines
PINNED = "%d.%d" % PINNED_PYTHON


def engine_file_name(version_tag: str, env_platform: str) -> str:
    """The loader's name for the engine of Python ``version_tag`` ("310") on "linux", "macos" or "windows"."""
    if env_platform == "windows":
        return "pyproc_engine_cp%s.dll" % version_tag
    return "libpyproc_engine_cp%s.%s" % (version_tag, "dylib" if env_platform == "macos" else "so")


def engine_folders(site_packages: Sequence[str], shared_folders: Sequence[str]) -> List[str]:
    """Where the loader looks, in its order: the home's site-packages, then each GUI shared folder."""
    return ([os.path.join(site, "oe_pyproc", "engines") for site in site_packages]
            + [os.path.join(shared, ENGINES_IN_SHARED) for shared in shared_folders])


def find_engines(version_tag: str, env_platform: str, folders: Sequence[str]) -> List[str]:
    name = engine_file_name(version_tag, env_platform)
    return [os.path.join(folder, name) for folder in folders if os.path.isfile(os.path.join(folder, name))]


def version_problem(version: str, engines: Sequence[str], folders: Sequence[str]) -> Optional[str]:
    """None when a home running Python ``version`` ("3.11.7") can run in the plugin, else why not."""
    short = ".".join(version.split(".")[:2])
    if short == PINNED or engines:
        return None
    return ("Python %s, but no engine for Python %s was found (looked in %s); every plugin build carries "
            "the engine for Python %s: install oe-python-processor into this env, or use Python %s "
            "(oe-pyproc setup --create)" % (version, short, ", ".join(folders), PINNED, PINNED))


def platform_of(system: str) -> str:
    """The loader's name ("linux", "macos", "windows") for a ``platform.system()`` name."""
    return {WINDOWS: "windows", MACOS: "macos"}.get(system, "linux")
