"""The Plugin Installer zip: PythonProcessor-<os>_<version>-API10.zip with plugins/ and shared/."""
from __future__ import annotations

import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from oe_bootstrap import PLUGIN_API
from oe_bootstrap.folders import LINUX, MACOS, WINDOWS, current_system
from oe_bootstrap.plugins import INSTALLER_NAME, PLUGIN_SUFFIX, ZIP_OS, plugin_zip_problem

from . import __version__

ENGINES_FOLDER = "python-processor"  # shared/python-processor/: where the plugin looks for engines
ENGINE_NAME = {
    LINUX: re.compile(r"^libpyproc_engine_cp3\d+\.so$"),
    MACOS: re.compile(r"^libpyproc_engine_cp3\d+\.dylib$"),
    WINDOWS: re.compile(r"^pyproc_engine_cp3\d+\.dll$"),
}

# The isolated mode's worker program: beside the engines, where the plugin looks for it.
WORKER_NAME = {LINUX: "pyproc-worker", MACOS: "pyproc-worker", WINDOWS: "pyproc-worker.exe"}


class PackageError(ValueError):
    pass


def plugin_zip_name(system: str, version: str) -> str:
    return f"{INSTALLER_NAME}-{ZIP_OS[system]}_{version}-API{PLUGIN_API}.zip"


def bundled_engines(system: str) -> List[Path]:
    """The engines installed with this package (one per Python version built), and the worker beside them."""
    from .host import BUNDLED_ENGINES

    found = sorted(path for path in BUNDLED_ENGINES.glob("*") if ENGINE_NAME[system].match(path.name))
    worker = BUNDLED_ENGINES / WORKER_NAME[system]
    return found + ([worker] if worker.is_file() else [])


def zip_entries(plugin: Path, engines: Sequence[Path], system: str) -> List[Tuple[str, Optional[Path]]]:
    """(name in the zip, file or None for a folder), in the order the Plugin Installer needs.

    The installer takes the plugin's file name from entry 0 on Windows and entry 1 elsewhere, so
    elsewhere entry 0 is the plugins/ folder. On Windows entry 0 is stored with a backslash: the
    installer cuts the name at the first separator of its own OS.
    """
    _check_inputs(plugin, engines, system)
    if system == WINDOWS:
        entries: List[Tuple[str, Optional[Path]]] = [("plugins\\" + plugin.name, plugin)]
    else:
        entries = [("plugins/", None)]
        if plugin.is_dir():  # a macOS .bundle is a folder
            entries.append((f"plugins/{plugin.name}/", None))
            entries += _folder_entries(plugin, f"plugins/{plugin.name}/")
        else:
            entries.append((f"plugins/{plugin.name}", plugin))
    entries += [("shared/", None), (f"shared/{ENGINES_FOLDER}/", None)]
    entries += [(f"shared/{ENGINES_FOLDER}/{engine.name}", engine) for engine in engines]
    return entries


def _folder_entries(folder: Path, prefix: str) -> List[Tuple[str, Optional[Path]]]:
    entries: List[Tuple[str, Optional[Path]]] = []
    for path in sorted(folder.rglob("*")):
        name = prefix + path.relative_to(folder).as_posix()
        entries.append((name + "/", None) if path.is_dir() else (name, path))
    return entries


def _check_inputs(plugin: Path, engines: Sequence[Path], system: str) -> None:
    suffix = PLUGIN_SUFFIX[system]
    if not plugin.exists():
        raise PackageError(f"the plugin {plugin} does not exist: build it with -DGUI_BASE_DIR=<plugin-GUI checkout>")
    if plugin.suffix != suffix:
        raise PackageError(f"{plugin.name} is not a {ZIP_OS[system]} plugin (expected a {suffix} file)")
    if not [engine for engine in engines if engine.name != WORKER_NAME[system]]:
        raise PackageError("no engine to package: the zip needs at least the engine for Python 3.10 "
                           "(pass --engine, or install the package so that oe_pyproc/engines/ holds one)")
    for engine in engines:
        if not engine.is_file():
            raise PackageError(f"the engine {engine} does not exist")
        if engine.name != WORKER_NAME[system] and not ENGINE_NAME[system].match(engine.name):
            raise PackageError(f"{engine.name} is not a {ZIP_OS[system]} engine name "
                               f"(the loader looks for names like {_example_engine(system)})")
    names = [engine.name for engine in engines]
    if len(set(names)) != len(names):
        raise PackageError("two engines with the same name: " + ", ".join(sorted(names)))


def _example_engine(system: str) -> str:
    return {LINUX: "libpyproc_engine_cp310.so", MACOS: "libpyproc_engine_cp310.dylib",
            WINDOWS: "pyproc_engine_cp310.dll"}[system]


def write_plugin_zip(plugin: Path, engines: Sequence[Path], output_dir: Path, system: Optional[str] = None,
                     version: str = __version__) -> Path:
    """Writes the zip into output_dir (atomically) and checks it against the installer's rules."""
    system = system or current_system()
    entries = zip_entries(Path(plugin), [Path(engine) for engine in engines], system)
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / plugin_zip_name(system, version)
    handle, temporary = tempfile.mkstemp(dir=output_dir, suffix=".zip.tmp")
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, source in entries:
                _add(archive, name, source)
        problem = plugin_zip_problem(temporary, system)
        if problem:
            raise PackageError(problem)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return target


def _add(archive: zipfile.ZipFile, name: str, source: Optional[Path]) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))  # reproducible bytes
    info.filename = name  # as given: on Windows ZipInfo would turn the entry's backslash into "/"
    if source is None:
        info.external_attr = (0o40755 << 16) | 0x10
        archive.writestr(info, b"")
        return
    mode = source.stat().st_mode & 0o777 or 0o644
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, source.read_bytes())
