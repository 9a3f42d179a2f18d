"""What a Python Home is, read from its files alone: conda env, venv, installation or embeddable.

Nothing is run and the layout is recognized by its files, not by the OS we run
on, so a Windows env copied to Linux reads the same as on Windows.
"""
import glob
import json
import os
import re
from typing import Dict, Iterator, List, NamedTuple, Optional

CONDA, VENV, INSTALLATION, EMBEDDABLE = "conda env", "venv", "installation", "embeddable distribution"
WINDOWS_LAYOUT, UNIX_LAYOUT = "windows", "unix"


class PythonEnv(NamedTuple):
    prefix: str
    kind: Optional[str]  # CONDA, VENV, INSTALLATION, EMBEDDABLE; None when no Python is there
    layout: Optional[str]  # WINDOWS_LAYOUT or UNIX_LAYOUT
    version: Optional[str]  # "3.10.13" where known, else "3.10"
    python: Optional[str]  # its interpreter executable
    site_packages: List[str]
    stdlib: Optional[str]
    libpython: Optional[str]  # the shared library the plugin loads (a venv's comes from its base)
    base_prefix: Optional[str]  # a venv's base installation (`home` in pyvenv.cfg)
    conda_subdir: Optional[str]  # "win-64", "osx-arm64", ... from the python record in conda-meta
    problem: Optional[str]  # why it cannot be a Python Home, in words

    @property
    def major_minor(self) -> Optional[str]:
        return major_minor(self.version) if self.version else None


def major_minor(version: str) -> Optional[str]:
    match = re.match(r"(\d+)\.(\d+)", version)
    return "%s.%s" % match.groups() if match else None


def _first_existing(paths) -> Optional[str]:
    return next((path for path in paths if os.path.exists(path)), None)


def read_pyvenv_cfg(prefix: str) -> Dict[str, str]:
    values = {}
    with open(os.path.join(prefix, "pyvenv.cfg"), encoding="utf-8", errors="replace") as stream:
        for line in stream:
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip().lower()] = value.strip()
    return values


def conda_records(prefix: str) -> Iterator[dict]:
    """conda's record of each package installed in the env (conda-meta/*.json)."""
    for path in sorted(glob.glob(os.path.join(glob.escape(prefix), "conda-meta", "*.json"))):
        try:
            with open(path, encoding="utf-8") as stream:
                record = json.load(stream)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("name"):
            record.setdefault("_record_file", path)
            yield record


def python_record(prefix: str) -> Optional[dict]:
    """The python package's conda record, read cheaply by its file name first."""
    pattern = os.path.join(glob.escape(prefix), "conda-meta", "python-[0-9]*.json")
    for path in glob.glob(pattern):
        try:
            with open(path, encoding="utf-8") as stream:
                record = json.load(stream)
        except (OSError, ValueError):
            continue
        if record.get("name") == "python":
            return record
    return None


def detect_layout(prefix: str) -> Optional[str]:
    if any(os.path.exists(os.path.join(prefix, name)) for name in ("python.exe", "Lib", "pythonw.exe")):
        return WINDOWS_LAYOUT
    if any(os.path.isdir(os.path.join(prefix, name)) for name in ("bin", "lib")):
        return UNIX_LAYOUT
    if os.path.isdir(os.path.join(prefix, "Scripts")):
        return WINDOWS_LAYOUT  # a Windows venv has Scripts/ and no Lib/ of its own stdlib
    return None


def _unix_versions(prefix: str) -> List[str]:
    found = []
    for path in glob.glob(os.path.join(glob.escape(prefix), "lib", "python3.*")):
        version = major_minor(os.path.basename(path)[len("python"):])
        if version and os.path.isdir(path):
            found.append(version)
    return sorted(set(found), key=lambda text: tuple(int(part) for part in text.split(".")))


def _windows_dll_version(prefix: str) -> Optional[str]:
    for path in glob.glob(os.path.join(glob.escape(prefix), "python3*.dll")):
        match = re.match(r"python3(\d+)\.dll$", os.path.basename(path), re.IGNORECASE)
        if match:
            return "3." + match.group(1)
    return None


def _python_executable(prefix: str, layout: str, version: Optional[str]) -> Optional[str]:
    if layout == WINDOWS_LAYOUT:
        return _first_existing([os.path.join(prefix, "python.exe"), os.path.join(prefix, "Scripts", "python.exe")])
    names = (["python" + major_minor(version)] if version else []) + ["python3", "python"]
    return _first_existing([os.path.join(prefix, "bin", name) for name in names])


def _unix_libpython(prefix: str, version: str) -> Optional[str]:
    names = ["libpython%s.so.1.0" % version, "libpython%s.so" % version, "libpython%s.dylib" % version]
    folders = [os.path.join(prefix, "lib")] + sorted(glob.glob(os.path.join(glob.escape(prefix), "lib", "*-linux-gnu")))
    return _first_existing([os.path.join(folder, name) for folder in folders for name in names])


def _site_packages(prefix: str, layout: str, version: Optional[str]) -> List[str]:
    if layout == WINDOWS_LAYOUT:
        return [os.path.join(prefix, "Lib", "site-packages")]
    if not version:
        return []
    folders = [os.path.join(prefix, "lib", "python" + version, "site-packages"),
               os.path.join(prefix, "lib", "python3", "dist-packages"),
               os.path.join(prefix, "local", "lib", "python" + version, "dist-packages")]
    return [folder for folder in folders if os.path.isdir(folder)] or folders[:1]


def _stdlib(prefix: str, layout: str, version: Optional[str]) -> Optional[str]:
    if layout == WINDOWS_LAYOUT:
        folder = os.path.join(prefix, "Lib")
    elif version:
        folder = os.path.join(prefix, "lib", "python" + version)
    else:
        return None
    return folder if os.path.exists(os.path.join(folder, "os.py")) else None


def _libpython(prefix: str, layout: str, version: Optional[str]) -> Optional[str]:
    if not version:
        return None
    if layout == WINDOWS_LAYOUT:
        return _first_existing([os.path.join(prefix, "python%s.dll" % version.replace(".", ""))])
    return _unix_libpython(prefix, version)


def _venv(prefix: str) -> PythonEnv:
    config = read_pyvenv_cfg(prefix)
    base = config.get("home", "")
    # `home` names the folder of the base interpreter: its prefix is that folder (Windows) or its parent (bin/).
    base_prefix = os.path.dirname(base) if os.path.basename(base.rstrip("/\\")) == "bin" else base
    version = config.get("version") or config.get("version_info")
    layout = detect_layout(prefix) or UNIX_LAYOUT
    short = major_minor(version) if version else None
    base_layout = detect_layout(base_prefix) if base_prefix and os.path.isdir(base_prefix) else None
    problem = None
    if not base_prefix or not os.path.isdir(base_prefix):
        problem = ("this venv's base Python (%s, named in pyvenv.cfg) is gone; recreate the venv "
                   "from an existing Python %s" % (base or "no home", short or ""))
    libpython = _libpython(base_prefix, base_layout, short) if base_layout else None
    stdlib = _stdlib(base_prefix, base_layout, short) if base_layout else None
    return PythonEnv(prefix, VENV, layout, version, _python_executable(prefix, layout, short),
                     _site_packages(prefix, layout, short), stdlib, libpython, base_prefix or None, None, problem)


def inspect_env(prefix: str) -> PythonEnv:
    """Read what kind of Python lives at ``prefix`` and where its parts are."""
    prefix = os.path.abspath(os.path.expanduser(prefix))
    if not os.path.isdir(prefix):
        return _nothing(prefix, "the folder %s does not exist" % prefix)
    if os.path.isfile(os.path.join(prefix, "pyvenv.cfg")):
        return _venv(prefix)
    layout = detect_layout(prefix)
    record = python_record(prefix) if os.path.isdir(os.path.join(prefix, "conda-meta")) else None
    version = record.get("version") if record else None
    if layout == WINDOWS_LAYOUT:
        version = version or _windows_dll_version(prefix)
    elif layout == UNIX_LAYOUT:
        versions = _unix_versions(prefix)
        version = version or (versions[-1] if versions else None)
    if layout is None or version is None:
        return _nothing(prefix, "no Python installation was found in %s (no python executable, no "
                                "standard library); name the folder of a conda env, a venv or a Python "
                                "installation" % prefix)
    short = major_minor(version)
    kind = CONDA if os.path.isdir(os.path.join(prefix, "conda-meta")) else INSTALLATION
    problem = None
    if glob.glob(os.path.join(glob.escape(prefix), "python3*._pth")):
        kind = EMBEDDABLE
        problem = ("%s is Python's embeddable distribution, which ignores site-packages settings the "
                   "plugin needs; use a conda env or a full installation" % prefix)
    stdlib = _stdlib(prefix, layout, short)
    if problem is None and stdlib is None and not glob.glob(os.path.join(glob.escape(prefix), "python3*.zip")):
        problem = "the standard library of Python %s is missing from %s (no os.py); reinstall it" % (short, prefix)
    return PythonEnv(prefix, kind, layout, version, _python_executable(prefix, layout, short),
                     _site_packages(prefix, layout, short), stdlib, _libpython(prefix, layout, short), None,
                     record.get("subdir") if record else None, problem)


def _nothing(prefix: str, problem: str) -> PythonEnv:
    return PythonEnv(prefix, None, None, None, None, [], None, None, None, None, problem)


def is_conda_env(prefix: str) -> bool:
    return os.path.isdir(os.path.join(prefix, "conda-meta"))
