"""Everything a check reads, gathered once: the env's layout, its packages and binaries, the GUI's folders."""
from __future__ import annotations

import os
import platform
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Dict, List, Mapping, Optional

from oe_bootstrap import folders
from oe_bootstrap.engines import platform_of
from oe_bootstrap.folders import GuiFolders
from oe_bootstrap.probe import ProbeResult, probe_python
from oe_bootstrap.pythonenv import PythonEnv, UNIX_LAYOUT, WINDOWS_LAYOUT, conda_records

from .binaries import BinaryInfo, read_binary
from .distributions import Distribution, distributions

EXTENSION_SUFFIXES = (".so", ".pyd", ".dll", ".dylib")
MACHINE_NAMES = {"amd64": "x86_64", "x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64", "i386": "x86",
                 "i686": "x86", "x86": "x86"}
LINUX_ENV, MACOS_ENV, WINDOWS_ENV = "linux", "macos", "windows"


def normalized_machine(name: str) -> str:
    return MACHINE_NAMES.get(name.lower(), name.lower())


@dataclass
class DoctorContext:
    python_home: str
    env: PythonEnv
    gui: GuiFolders
    home_source: str  # how this home was chosen, in words
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    user_home: str = field(default_factory=lambda: os.path.expanduser("~"))
    system: str = field(default_factory=folders.current_system)
    script: Optional[str] = None
    engine_dirs: List[str] = field(default_factory=list)
    run_probe: bool = True
    _probe_thread: Optional[threading.Thread] = field(default=None, init=False, repr=False)
    _probe_result: Optional[ProbeResult] = field(default=None, init=False, repr=False)

    @cached_property
    def env_platform(self) -> Optional[str]:
        """The OS the env was made for, from its files."""
        subdir = self.env.conda_subdir or ""
        if self.env.layout == WINDOWS_LAYOUT or subdir.startswith("win"):
            return WINDOWS_ENV
        if subdir.startswith("osx") or (self.env.libpython or "").endswith(".dylib"):
            return MACOS_ENV
        if self.env.layout == UNIX_LAYOUT:
            return MACOS_ENV if self._has_darwin_extensions else LINUX_ENV
        return None

    @property
    def _has_darwin_extensions(self) -> bool:
        stdlib = self.env.stdlib
        dynload = os.path.join(stdlib, "lib-dynload") if stdlib else ""
        return os.path.isdir(dynload) and any("darwin" in name for name in os.listdir(dynload))

    @property
    def runs_here(self) -> bool:
        """Whether the env's python can be started on this machine."""
        here = platform_of(self.system)
        return self.env_platform == here

    @cached_property
    def distributions(self) -> List[Distribution]:
        return [dist for folder in self.env.site_packages for dist in distributions(folder)]

    @cached_property
    def conda_packages(self) -> List[dict]:
        return list(conda_records(self.python_home)) if self.env.kind == "conda env" else []

    @cached_property
    def package_files(self) -> List[str]:
        """Every file in site-packages and the standard library's extension folders, walked once."""
        roots = list(self.env.site_packages)
        if self.env.stdlib:
            roots.append(os.path.join(self.env.stdlib, "lib-dynload"))
        if self.env.layout == WINDOWS_LAYOUT:
            roots.append(os.path.join(self.python_home, "DLLs"))
        return [os.path.join(folder, name) for root in roots for folder, _subfolders, names in os.walk(root)
                for name in names]

    @cached_property
    def extension_binaries(self) -> List[BinaryInfo]:
        """Compiled modules and the libraries they bring, read from their headers."""
        candidates = (path for path in self.package_files
                      if path.lower().endswith(EXTENSION_SUFFIXES) or ".so." in os.path.basename(path))
        return [info for info in map(read_binary, candidates) if info]

    @cached_property
    def core_binaries(self) -> List[BinaryInfo]:
        """libpython and the interpreter: what tells the env's architecture."""
        paths = [self.env.libpython, self.env.python]
        return [info for info in (read_binary(path) for path in paths if path and os.path.isfile(path)) if info]

    def start_probe(self) -> None:
        """Start the env's python now, so that it answers while the files are read."""
        if self.run_probe and self.runs_here and self.env.python and self._probe_thread is None:
            self._probe_thread = threading.Thread(target=self._run_probe, daemon=True)
            self._probe_thread.start()

    def _run_probe(self) -> None:
        self._probe_result = probe_python(self.env.python)

    @property
    def probe(self) -> Optional[ProbeResult]:
        self.start_probe()
        if self._probe_thread is not None:
            self._probe_thread.join()
        return self._probe_result

    @cached_property
    def plugin_arch(self) -> str:
        """The architecture of the plugin the GUI will load: x86_64 on macOS (see DESIGN), else this machine's."""
        if self.env_platform == MACOS_ENV:
            return "x86_64"
        return normalized_machine(platform.machine())

    @property
    def version_tag(self) -> Optional[str]:
        """"310" for Python 3.10."""
        short = self.env.major_minor
        return short.replace(".", "") if short else None

    def dist_by_name(self) -> Dict[str, List[Distribution]]:
        grouped: Dict[str, List[Distribution]] = {}
        for dist in self.distributions:
            grouped.setdefault(dist.key, []).append(dist)
        return grouped


def quoted(path: str) -> str:
    return '"%s"' % path if " " in path else path


def env_python_command(context: DoctorContext) -> str:
    """How the user runs the env's own python, for fix commands."""
    if context.env.python:
        return quoted(context.env.python)
    return "python"


def recreate_command() -> str:
    return "oe-pyproc setup --create"
