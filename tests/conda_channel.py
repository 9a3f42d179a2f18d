"""A local conda channel built offline: real .conda packages, indexed and installed with rattler.

No conda channel is reachable here, so the packages the recipe needs besides its own are stand-ins
made from this machine's files: `python` is a pyenv CPython 3.10 install, `python_abi` is empty,
and every Python distribution (numpy, pip, rich, scikit-build-core, ...) is the copy installed in
the environment running the tests, with its Requires-Dist as conda dependencies. They are real
packages all the same (index.json, paths.json, conda-meta records once installed), so the solve
and the install are real.

assemble_package (py-rattler-build) looks for prefix placeholders only against its own staging
folder; `register_prefix` records the build prefix the way conda-build does, so that conda and
rattler rewrite it (shebangs, sysconfig data) when they install the package somewhere else.
"""
from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import conda_package_handling.api as cph
from rattler import Channel, VirtualPackage, install, solve
from rattler.index import index_fs
from rattler_build import FileEntry, assemble_package
from recipe_render import HOST_RUN_EXPORTS, pin_range

SUBDIR = "linux-64"
PY_VER = "3.10"
SITE_PACKAGES = f"lib/python{PY_VER}/site-packages"
# Parts of a CPython install that no package needs (conda-forge's python leaves them out as well).
PYTHON_LEFT_OUT = ("lib/python3.10/test/", "lib/python3.10/site-packages/", "lib/python3.10/idlelib/",
                   "lib/python3.10/tkinter/", "lib/python3.10/turtledemo/", "lib/python3.10/lib2to3/tests/",
                   "lib/python3.10/config-3.10-x86_64-linux-gnu/libpython3.10.a", "bin/pip", "bin/idle",
                   "bin/2to3", "bin/pydoc")
# Where stand-in launchers say their python is: a placeholder that install replaces.
STANDIN_PREFIX = "/opt/oe-python-processor-standin-build-prefix"


def run(coroutine):
    return asyncio.run(coroutine)


# --- packing ---

def files_under(root: Path, relative_paths: Iterable[str]) -> List[FileEntry]:
    return [FileEntry.from_paths(root / path, path) for path in sorted(relative_paths)]


def tree_files(root: Path, left_out: Sequence[str] = ()) -> List[str]:
    """Files and symlinks below root (relative, '/'-separated), without __pycache__ and the left-out prefixes."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [name for name in dirs if name != "__pycache__" and not (Path(folder) / name).is_symlink()]
        symlinked_dirs = [name for name in os.listdir(folder) if (Path(folder) / name).is_symlink()
                          and (Path(folder) / name).is_dir()]
        for name in list(names) + symlinked_dirs:
            relative = (Path(folder) / name).relative_to(root).as_posix()
            if not relative.startswith(tuple(left_out)) and not name.endswith(".pyc"):
                found.append(relative)
    return sorted(set(found))


def register_prefix(package: Path, prefix: str) -> List[str]:
    """Marks the text files that contain `prefix` as conda-build does (paths.json prefix_placeholder).

    Returns those files. Binary files are left alone: a binary placeholder only works when the build
    prefix is padded longer than any install prefix, and the checks of our own package require that
    no binary holds its build prefix at all.
    """
    with tempfile.TemporaryDirectory() as unpacked:
        cph.extract(str(package), unpacked)
        paths_file = Path(unpacked) / "info" / "paths.json"
        paths = json.loads(paths_file.read_text())
        marked = []
        for entry in paths["paths"]:
            path = Path(unpacked) / entry["_path"]
            if entry.get("path_type", "hardlink") != "hardlink" or path.is_symlink():
                continue
            data = path.read_bytes()
            if prefix.encode() in data and b"\0" not in data:
                entry.update(prefix_placeholder=prefix, file_mode="text")
                marked.append(entry["_path"])
        if not marked:
            return []
        paths_file.write_text(json.dumps(paths, indent=2))
        package.unlink()
        cph.create(unpacked, tree_files(Path(unpacked)), package.name, str(package.parent), compression_level=1)
    return marked


def pack(channel: Path, name: str, version: str, build: str, files: List[FileEntry], depends: Sequence[str],
         prefix: Optional[str] = None, **about) -> Path:
    """One .conda in channel/linux-64, with `prefix` registered where files hold it."""
    output = channel / SUBDIR
    output.mkdir(parents=True, exist_ok=True)
    (channel / "noarch").mkdir(exist_ok=True)
    package = assemble_package(name=name, version=version, target_platform=SUBDIR, build_string=build,
                               output_dir=output, files=files, depends=list(depends), compression_level=1,
                               **about).path
    if prefix:
        register_prefix(package, prefix)
    return package


def index(channel: Path) -> None:
    run(index_fs(channel, write_zst=False, write_shards=False, force=True))


def install_env(channel: Path, specs: Sequence[str], prefix: Path, cache: Path) -> List[str]:
    """Solves specs against the channel alone and installs them into prefix; returns name=version=build."""
    records = run(solve(sources=[Channel(channel.as_uri())], specs=list(specs), platforms=[SUBDIR, "noarch"],
                        virtual_packages=VirtualPackage.detect()))
    run(install(records, target_prefix=prefix, cache_dir=cache, show_progress=False,
                requested_specs=None))
    return sorted(f"{record.name.normalized}={record.version}={record.build}" for record in records)


# --- stand-ins ---

def mark_installed_by_conda(files: List[FileEntry], scratch: Path) -> List[FileEntry]:
    """dist-info/INSTALLER says "conda", as conda-build and rattler-build write it into every package."""
    marked = []
    for entry in files:
        destination = entry.destination.as_posix()
        if destination.endswith(".dist-info/INSTALLER"):
            replacement = scratch / destination
            replacement.parent.mkdir(parents=True, exist_ok=True)
            replacement.write_text("conda\n")
            entry = FileEntry.from_paths(replacement, destination)
        marked.append(entry)
    return marked


def python_standin(channel: Path, install_root: Path) -> Path:
    """This machine's CPython 3.10 as conda's `python` package (conda-forge's layout: bin/, lib/, include/)."""
    version = (install_root / "bin" / f"python{PY_VER}").resolve().parent.parent.name  # pyenv's folder: 3.10.13
    files = files_under(install_root, tree_files(install_root, PYTHON_LEFT_OUT))
    return pack(channel, "python", version, "standin_0_cpython", files, [], prefix=str(install_root))


def python_abi_standin(channel: Path) -> Path:
    return pack(channel, "python_abi", PY_VER, f"0_cp{PY_VER.replace('.', '')}", [], [])


def requirements_of(distribution: importlib.metadata.Distribution) -> List[Requirement]:
    """Its Requires-Dist that apply to Python 3.10 on Linux without extras (this test env is exactly that)."""
    requirements = []
    for text in distribution.requires or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            requirements.append(requirement)
    return requirements


def distribution_closure(names: Iterable[str]) -> Dict[str, importlib.metadata.Distribution]:
    """The installed distributions of names and of everything they require, by canonical name."""
    found: Dict[str, importlib.metadata.Distribution] = {}
    pending = [canonicalize_name(name) for name in names]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found[name] = importlib.metadata.distribution(name)  # PackageNotFoundError names what is missing
        pending += [canonicalize_name(requirement.name) for requirement in requirements_of(found[name])]
    return found


def distribution_standin(channel: Path, distribution: importlib.metadata.Distribution, scratch: Path) -> Path:
    """An installed distribution as a conda package: its site-packages files, launchers, dependencies."""
    name = canonicalize_name(distribution.metadata["Name"])
    site = Path(distribution.locate_file(""))
    inside = [str(path) for path in distribution.files or [] if not str(path).startswith("..")
              and "__pycache__" not in str(path)]
    files = [FileEntry.from_paths(site / path, f"{SITE_PACKAGES}/{path}") for path in sorted(inside)]
    own_scratch = scratch / name
    for entry_point in distribution.entry_points.select(group="console_scripts"):
        module, _, function = entry_point.value.partition(":")
        launcher = own_scratch / "bin" / entry_point.name
        launcher.parent.mkdir(parents=True, exist_ok=True)
        attribute = function.split(".")[0]  # "main" of "module:main" or of "module:main.run"
        launcher.write_text(f"#!{STANDIN_PREFIX}/bin/python{PY_VER}\nimport sys\n"
                            f"from {module} import {attribute}\nsys.exit({function}())\n")
        launcher.chmod(0o755)
        files.append(FileEntry.from_paths(launcher, f"bin/{entry_point.name}"))
    compiled = any(path.endswith(".so") for path in inside)
    depends = [f"python {pin_range(PY_VER, 'x.x', 'x.x')}"] + (HOST_RUN_EXPORTS["python"] if compiled else [])
    depends += [f"{canonicalize_name(requirement.name)} {requirement.specifier}".strip()
                for requirement in requirements_of(distribution)]
    build = f"py{PY_VER.replace('.', '')}_standin_0"
    return pack(channel, name, distribution.version, build, mark_installed_by_conda(files, own_scratch), depends,
                prefix=STANDIN_PREFIX, summary=f"stand-in made from this machine's {name}")


def standin_channel(channel: Path, python_root: Path, distributions: Iterable[str], scratch: Path) -> List[Path]:
    """The channel with python, python_abi and the closure of the given distributions."""
    packages = [python_standin(channel, python_root), python_abi_standin(channel)]
    for distribution in distribution_closure(distributions).values():
        packages.append(distribution_standin(channel, distribution, scratch))
    return packages


def this_python_matches(python_root: Path) -> bool:
    """Stand-ins copied from this test env must fit the stand-in python (same x.y, Linux x86_64)."""
    return sys.version_info[:2] == tuple(map(int, PY_VER.split("."))) and sys.platform == "linux" and \
        os.uname().machine == "x86_64" and (python_root / "bin" / f"python{PY_VER}").is_file()


def copy_sources(repository: Path, destination: Path, listed: Sequence[str]) -> None:
    for relative in listed:
        source = repository / relative
        if source.is_file():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
