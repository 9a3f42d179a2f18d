"""The plugin settings file (JSON in the GUI's configs folder): where ``setup`` records the Python Home.

The C++ plugin reads its ``python_home`` key; every other key is informative and kept as found.
"""
import datetime
import json
import os
from typing import Any, Dict, NamedTuple, Optional

from . import __version__
from .atomic import write_atomic
from .folders import GuiFolders, path_module

PYTHON_HOME_KEY = "python_home"
SOURCE_KEY = "python_home_source"
WRITTEN_BY_KEY = "written_by"
WRITTEN_AT_KEY = "written_at"


class SettingsError(Exception):
    """The settings file exists but cannot be used; it is left as it is."""


class WriteResult(NamedTuple):
    path: str
    changed: bool  # False: the file already named this Python Home, nothing was written
    previous_python_home: Optional[str]
    backup: Optional[str]


def _refuse_constant(name: str):
    raise ValueError("%s is not JSON" % name)  # as the plugin's parser says


def read_settings(path: str) -> Dict[str, Any]:
    """The settings as a dict; empty when the file does not exist."""
    if not os.path.exists(path):
        return {}
    try:
        # utf-8-sig: a file saved by Windows Notepad may start with a byte-order mark
        with open(path, encoding="utf-8-sig") as stream:
            settings = json.load(stream, parse_constant=_refuse_constant)
    except OSError as error:
        raise SettingsError("%s cannot be read (%s); fix it or delete it, then run setup again"
                            % (path, error.strerror or error)) from error
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise SettingsError("%s is not valid JSON (%s); fix it or delete it, then run setup again"
                            % (path, error)) from error
    if not isinstance(settings, dict):
        raise SettingsError("%s should hold a JSON object ({...}), not %s; fix it or delete it, then run setup again"
                            % (path, type(settings).__name__))
    return settings


def write_python_home(folders: GuiFolders, python_home: str, source_note: str) -> WriteResult:
    """Record ``python_home`` (absolute) and how it was chosen, keeping every other key."""
    if not path_module(folders.system).isabs(python_home):
        raise ValueError("the Python Home must be an absolute path, not %r" % python_home)
    path = folders.settings_file
    settings = read_settings(path)  # raises on a malformed file, before anything is written
    previous = settings.get(PYTHON_HOME_KEY)
    if previous == python_home and settings.get(SOURCE_KEY) == source_note:
        # Rewriting the same value would replace a useful backup with a copy of the current file.
        return WriteResult(path, False, previous, None)
    settings[PYTHON_HOME_KEY] = python_home
    settings[SOURCE_KEY] = source_note
    settings[WRITTEN_BY_KEY] = "oe-pyproc %s" % __version__
    settings[WRITTEN_AT_KEY] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    text = json.dumps(settings, indent=2, ensure_ascii=False) + "\n"
    backup = write_atomic(path, text.encode("utf-8"))
    return WriteResult(path, True, previous, backup)
