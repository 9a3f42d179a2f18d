"""Finds conda frontends (conda, mamba, micromamba) and every conda env they know of.

Environments come from ``~/.conda/environments.txt``, ``envs_dirs`` in the
``.condarc`` files, ``CONDA_ENVS_PATH``, each installation's ``envs/`` folder and
``CONDA_PREFIX``, as conda itself gathers them.
"""
import os
import re
import shutil
from typing import Iterable, List, Mapping, NamedTuple, Optional

from . import folders
from .pythonenv import is_conda_env

FRONTENDS = ("micromamba", "mamba", "conda")


class Frontend(NamedTuple):
    kind: str  # "conda" | "mamba" | "micromamba"
    path: str
    source: str  # where it was found: "CONDA_EXE", "PATH", "<install folder>"


class CondaEnv(NamedTuple):
    name: str
    prefix: str
    source: str  # "environments.txt", ".condarc envs_dirs", "CONDA_PREFIX", ...


class Discovery(NamedTuple):
    """The machine's conda world as seen from one user's account."""

    system: str
    environ: Mapping[str, str]
    home: str

    @classmethod
    def here(cls) -> "Discovery":
        return cls(folders.current_system(), dict(os.environ), os.path.expanduser("~"))

    def join(self, *parts: str) -> str:
        return folders.path_module(self.system).join(*parts)

    @property
    def path_separator(self) -> str:
        return ";" if self.system == folders.WINDOWS else ":"

    def expand(self, path: str) -> str:
        path = path.strip().strip("'\"")
        if path.startswith("~"):
            path = self.home + path[1:]
        return re.sub(r"\$\{?(\w+)\}?|%(\w+)%", lambda m: self.environ.get(m.group(1) or m.group(2), m.group(0)), path)


def _executable_names(kind: str, system: str) -> List[str]:
    if system == folders.WINDOWS:
        return [kind + ".exe", kind + ".bat"]
    return [kind]


def _frontend_paths_in_base(base: str, discovery: Discovery) -> Iterable[str]:
    """Where each frontend lives inside an installation folder."""
    subfolders = ["condabin", "Scripts", "Library\\bin", ""] if discovery.system == folders.WINDOWS else ["condabin", "bin"]
    for kind in FRONTENDS:
        for sub in subfolders:
            for name in _executable_names(kind, discovery.system):
                yield kind, discovery.join(base, sub, name) if sub else discovery.join(base, name)


def find_frontends(discovery: Optional[Discovery] = None) -> List[Frontend]:
    """Every conda, mamba and micromamba found, the most specific first (no duplicates)."""
    discovery = discovery or Discovery.here()
    found: List[Frontend] = []
    for variable, kind in (("MAMBA_EXE", "micromamba"), ("CONDA_EXE", "conda")):
        path = discovery.environ.get(variable)
        if path and os.path.isfile(path):
            kind = _kind_of(path, kind)
            found.append(Frontend(kind, path, variable))
    search_path = discovery.environ.get("PATH", "")
    for kind in FRONTENDS:
        path = shutil.which(kind, path=search_path) if search_path else None
        if path:
            found.append(Frontend(kind, path, "PATH"))
    for base in folders.conda_install_candidates(discovery.system, discovery.environ, discovery.home):
        for kind, path in _frontend_paths_in_base(base, discovery):
            if os.path.isfile(path):
                found.append(Frontend(kind, path, base))
    return _unique_by_path(found, lambda frontend: frontend.path)


def _kind_of(path: str, default: str) -> str:
    name = os.path.basename(path).lower()
    return next((kind for kind in FRONTENDS if name.startswith(kind)), default)


def preferred_frontend(frontends: List[Frontend]) -> Optional[Frontend]:
    """mamba or micromamba solve faster than conda; any of them can create the env."""
    for kind in ("mamba", "micromamba", "conda"):
        for frontend in frontends:
            if frontend.kind == kind:
                return frontend
    return None


# --- .condarc: a YAML file, of which we need only the list under envs_dirs ---

CONDARC_KEYS = ("envs_dirs", "envs_path")


def condarc_files(discovery: Discovery, bases: Iterable[str]) -> List[str]:
    """The .condarc files conda reads, system-wide first (conda's search path)."""
    join, env, home = discovery.join, discovery.environ, discovery.home
    if discovery.system == folders.WINDOWS:
        system_wide = [join("C:\\ProgramData", "conda", ".condarc"), join("C:\\ProgramData", "conda", "condarc")]
    else:
        system_wide = ["/etc/conda/.condarc", "/etc/conda/condarc", "/var/lib/conda/.condarc"]
    per_base = [join(base, ".condarc") for base in bases]
    config_home = env.get("XDG_CONFIG_HOME") or join(home, ".config")
    per_user = [join(config_home, "conda", ".condarc"), join(home, ".config", "conda", ".condarc"),
                join(home, ".conda", ".condarc"), join(home, ".condarc")]
    explicit = [env["CONDARC"]] if env.get("CONDARC") else []
    return _unique_by_path(system_wide + per_base + per_user + explicit, lambda path: path)


def read_envs_dirs(text: str) -> List[str]:
    """``envs_dirs`` (or its alias ``envs_path``) from .condarc text, block or flow list."""
    result: List[str] = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^(%s)\s*:\s*(.*)$" % "|".join(CONDARC_KEYS), line)
        if not match:
            continue
        rest = _without_comment(match.group(2)).strip()
        if rest.startswith("["):
            result += [item for item in (_scalar(part) for part in rest.strip("[]").split(",")) if item]
            continue
        for item_line in lines[index + 1:]:
            stripped = _without_comment(item_line).strip()
            if not stripped:
                continue
            if not stripped.startswith("- ") and stripped != "-":
                break
            value = _scalar(stripped[1:])
            if value:
                result.append(value)
    return result


def _without_comment(text: str) -> str:
    return re.sub(r"(^|\s)#.*$", "", text)


def _scalar(text: str) -> str:
    return text.strip().strip("'\"")


# --- environments ---

def _installation_bases(discovery: Discovery, frontends: List[Frontend]) -> List[str]:
    bases = [path for path in folders.conda_install_candidates(discovery.system, discovery.environ, discovery.home)
             if os.path.isdir(path)]
    for frontend in frontends:
        folder = os.path.dirname(frontend.path)
        if os.path.basename(folder).lower() in ("bin", "condabin", "scripts"):
            bases.append(os.path.dirname(folder))
    for variable in ("CONDA_ROOT", "MAMBA_ROOT_PREFIX"):
        if discovery.environ.get(variable):
            bases.append(discovery.environ[variable])
    return _unique_by_path(bases, lambda path: path)


def find_envs(discovery: Optional[Discovery] = None, frontends: Optional[List[Frontend]] = None) -> List[CondaEnv]:
    """Every conda env this user's conda would list, each once."""
    discovery = discovery or Discovery.here()
    frontends = find_frontends(discovery) if frontends is None else frontends
    bases = _installation_bases(discovery, frontends)
    candidates: List[CondaEnv] = []
    environments_txt = discovery.join(discovery.home, ".conda", "environments.txt")
    candidates += [_env(prefix, "environments.txt") for prefix in _read_lines(environments_txt)]
    envs_dirs = list(_condarc_envs_dirs(discovery, bases))
    envs_dirs += [(path, "CONDA_ENVS_PATH") for path in discovery.environ.get("CONDA_ENVS_PATH", "").split(
        discovery.path_separator) if path]
    envs_dirs += [(discovery.join(base, "envs"), base) for base in bases]
    envs_dirs.append((discovery.join(discovery.home, ".conda", "envs"), "~/.conda/envs"))
    for folder, source in envs_dirs:
        candidates += [_env(path, source) for path in _subfolders(discovery.expand(folder))]
    candidates += [_env(base, "installation") for base in bases]
    if discovery.environ.get("CONDA_PREFIX"):
        candidates.append(_env(discovery.environ["CONDA_PREFIX"], "CONDA_PREFIX"))
    present = [env for env in candidates if is_conda_env(env.prefix)]
    return _unique_by_path(present, lambda env: env.prefix)


def find_env(name: str, discovery: Optional[Discovery] = None) -> Optional[CondaEnv]:
    return next((env for env in find_envs(discovery) if env.name == name), None)


def _condarc_envs_dirs(discovery: Discovery, bases: List[str]):
    for path in condarc_files(discovery, bases):
        try:
            with open(path, encoding="utf-8", errors="replace") as stream:
                text = stream.read()
        except OSError:
            continue
        for folder in read_envs_dirs(text):
            yield folder, path


def _env(prefix: str, source: str) -> CondaEnv:
    prefix = prefix.rstrip("/\\") or prefix
    name = "base" if source == "installation" else os.path.basename(prefix)
    if os.path.basename(os.path.dirname(prefix)) != "envs" and os.path.isdir(os.path.join(prefix, "envs")):
        name = "base"
    return CondaEnv(name, prefix, source)


def _read_lines(path: str) -> List[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            return [line.strip() for line in stream if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def _subfolders(folder: str) -> List[str]:
    try:
        return sorted(entry.path for entry in os.scandir(folder) if entry.is_dir())
    except OSError:
        return []


def _unique_by_path(items, key):
    seen, result = set(), []
    for item in items:
        normalized = os.path.normcase(os.path.normpath(key(item)))
        if normalized not in seen:
            seen.add(normalized)
            result.append(item)
    return result
