"""Every folder rule in one place: the GUI's saved-state folders and the usual conda locations.

Each function takes the platform (``platform.system()`` spelling), the
environment and the home folder as arguments, so the rules of every OS can be
tested from any OS.
"""
import ntpath
import os
import platform as _platform
import posixpath
from typing import List, Mapping, NamedTuple, Optional

from . import PLUGIN_API

LINUX, MACOS, WINDOWS = "Linux", "Darwin", "Windows"
SETTINGS_FILE = "python-processor.json"


def current_system() -> str:
    return _platform.system()


def path_module(system: str):
    return ntpath if system == WINDOWS else posixpath


class GuiFolders(NamedTuple):
    """Where a GUI keeps its state. A GUI run from a ``plugin-GUI/Build`` folder keeps it there."""

    saved_state: str
    configs: str
    plugins: str
    shared: str
    api: int
    system: str

    def _join(self, *parts: str) -> str:
        return path_module(self.system).join(*parts)

    @property
    def settings_file(self) -> str:
        """The plugin settings file that ``setup`` writes and the plugin reads."""
        return self._join(self.configs, SETTINGS_FILE)

    @property
    def installed_plugins_file(self) -> str:
        return self._join(self.plugins, "installedPlugins.xml")

    def chain_files(self) -> List[str]:
        """The chains the GUI reloads at start: what ``setup`` keeps in step with the settings file."""
        return [self._join(self.configs, name) for name in ("lastConfig.xml", "recoveryConfig.xml")]


def default_saved_state_dir(system: str, environ: Mapping[str, str], home: str) -> str:
    """The GUI's CoreServices::getSavedStateDirectory() for an installed GUI."""
    join = path_module(system).join
    if system == MACOS:
        return join(home, "Library", "Application Support", "open-ephys")
    if system == WINDOWS:
        local = environ.get("LOCALAPPDATA") or join(home, "AppData", "Local")
        return join(local, "Open Ephys")
    return join(_juce_config_dir(home), "open-ephys")


def _juce_config_dir(home: str) -> str:
    """JUCE's userApplicationDataDirectory on Linux: an XDG_CONFIG_HOME line in ~/.config/user-dirs.dirs
    naming an existing folder, else ~/.config. JUCE ignores the XDG_CONFIG_HOME variable itself."""
    fallback = posixpath.join(home, ".config")
    try:
        with open(posixpath.join(fallback, "user-dirs.dirs"), encoding="utf-8", errors="replace") as dirs:
            lines = dirs.read().splitlines()
    except OSError:
        return fallback
    for line in lines:
        line = line.lstrip()
        if line.startswith("XDG_CONFIG_HOME"):
            value = line.split("=", 1)[1].strip() if "=" in line else ""
            folder = value.replace("$HOME", home).strip().strip('"').strip("'")
            if folder and os.path.isdir(folder):
                return folder
    return fallback


def is_build_folder(path: str, system: str) -> bool:
    """The GUI's own test: a GUI run from plugin-GUI/Build keeps its state beside the executable."""
    separator = "\\" if system == WINDOWS else "/"
    return ("plugin-GUI" + separator + "Build") in path


def gui_folders(system: Optional[str] = None, environ: Optional[Mapping[str, str]] = None,
                home: Optional[str] = None, gui_dir: Optional[str] = None, api: int = PLUGIN_API) -> GuiFolders:
    """The folders of the GUI: ``gui_dir`` names a saved-state folder or a GUI build folder."""
    system = system or current_system()
    environ = os.environ if environ is None else environ
    home = home or os.path.expanduser("~")
    join = path_module(system).join
    saved_state = gui_dir or default_saved_state_dir(system, environ, home)
    if is_build_folder(saved_state, system):
        return GuiFolders(saved_state, saved_state, join(saved_state, "plugins"), join(saved_state, "shared"),
                          api, system)
    return GuiFolders(saved_state, join(saved_state, "configs-api%d" % api), join(saved_state, "plugins-api%d" % api),
                      join(saved_state, "shared-api%d" % api), api, system)


# Default installation folders of each conda distribution (the installers' defaults).
DISTRIBUTIONS = ("miniforge3", "mambaforge", "miniconda3", "anaconda3", "micromamba")


def conda_install_candidates(system: Optional[str] = None, environ: Optional[Mapping[str, str]] = None,
                             home: Optional[str] = None) -> List[str]:
    """Where conda, mamba and micromamba installations usually live, per user and for all users."""
    system = system or current_system()
    environ = os.environ if environ is None else environ
    home = home or os.path.expanduser("~")
    join = path_module(system).join
    names = list(DISTRIBUTIONS) + [name.capitalize() for name in DISTRIBUTIONS]
    roots = [home]
    if system == WINDOWS:
        local = environ.get("LOCALAPPDATA") or join(home, "AppData", "Local")
        roots += [local, join(local, "Continuum"), environ.get("ProgramData") or "C:\\ProgramData",
                  environ.get("ProgramFiles") or "C:\\Program Files"]
    elif system == MACOS:
        roots += ["/opt", "/opt/homebrew/Caskroom/miniforge/base", "/usr/local"]
    else:
        roots += ["/opt", "/usr/local"]
    candidates = []
    for root in roots:
        if root.endswith("base"):
            candidates.append(root)
            continue
        candidates += [join(root, name) for name in names]
    if system != WINDOWS:
        candidates.append(join(home, ".local", "share", "mamba"))  # micromamba's default root prefix
        candidates.append(join(home, "micromamba"))
    else:
        candidates.append(join(home, "micromamba"))
    return _unique(candidates)


def user_site_dir(version: str, system: Optional[str] = None, environ: Optional[Mapping[str, str]] = None,
                  home: Optional[str] = None, framework: bool = False) -> str:
    """Where ``pip install --user`` puts packages for Python ``version`` ("3.10")."""
    system = system or current_system()
    environ = os.environ if environ is None else environ
    home = home or os.path.expanduser("~")
    join = path_module(system).join
    major_minor = version.replace(".", "")
    if system == WINDOWS:
        appdata = environ.get("APPDATA") or join(home, "AppData", "Roaming")
        return join(appdata, "Python", "Python" + major_minor, "site-packages")
    base = environ.get("PYTHONUSERBASE")
    if system == MACOS and framework:
        return join(base or join(home, "Library", "Python", version), "lib", "python", "site-packages")
    return join(base or join(home, ".local"), "lib", "python" + version, "site-packages")


def _unique(paths: List[str]) -> List[str]:
    seen, result = set(), []
    for path in paths:
        if path not in seen:
            seen.add(path)
            result.append(path)
    return result
