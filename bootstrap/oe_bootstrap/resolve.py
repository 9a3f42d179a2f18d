"""The Python Home the plugin will use, found in the plugin's own order (DESIGN.md, "Python Home"): the rule of
cpp/common/home_choice.cpp, both run against tests/data/home_choice_cases.json."""
import os
from typing import List, Mapping, NamedTuple, Optional

from . import ENV_NAME
from .conda import Discovery, find_env
from .folders import GuiFolders

SAVED_CHAIN, SETTINGS_FILE, ENVIRONMENT, CONDA_ENV, NONE = (
    "saved chain", "settings file", "OE_PYTHON_HOME", "conda env " + ENV_NAME, "none")


class Resolution(NamedTuple):
    python_home: Optional[str]
    source: str  # one of the names above
    where: str  # the file, variable or env it came from
    notes: List[str]  # sources skipped because they could not be read


def _from_chain(gui: GuiFolders, notes: List[str]) -> Optional[Resolution]:
    from .chains import ChainError, python_homes_in_chain

    last_config = gui.chain_files()[0]
    if not os.path.isfile(last_config):
        return None
    try:
        nodes = python_homes_in_chain(last_config)
    except ChainError as error:
        notes.append(str(error))
        return None
    homes = [node.python_home for node in nodes if node.python_home]
    return Resolution(homes[0], SAVED_CHAIN, last_config, notes) if homes else None


def _from_settings(gui: GuiFolders, notes: List[str]) -> Optional[Resolution]:
    from .settings import SettingsError, read_settings

    if not os.path.isfile(gui.settings_file):
        return None
    try:
        home = read_settings(gui.settings_file).get("python_home")
    except SettingsError as error:
        notes.append(str(error))
        return None
    if home is not None and not isinstance(home, str):
        notes.append("%s: python_home should be a folder's path (a string), not %s; ignored"
                     % (gui.settings_file, type(home).__name__))
        return None
    return Resolution(home, SETTINGS_FILE, gui.settings_file, notes) if home else None


def resolve_python_home(gui: GuiFolders, environ: Optional[Mapping[str, str]] = None,
                        discovery: Optional[Discovery] = None) -> Resolution:
    environ = os.environ if environ is None else environ
    notes: List[str] = []
    found = _from_chain(gui, notes) or _from_settings(gui, notes)
    if found:
        return found
    if environ.get("OE_PYTHON_HOME"):
        return Resolution(environ["OE_PYTHON_HOME"], ENVIRONMENT, "OE_PYTHON_HOME", notes)
    env = find_env(ENV_NAME, discovery)
    if env:
        return Resolution(env.prefix, CONDA_ENV, env.source, notes)
    return Resolution(None, NONE, "", notes)
