"""The running GUI's HTTP API (localhost:37497): is a GUI up, its Python Processors, live python_home changes.

Behaviour follows the GUI 1.0 server (Source/Utils/OpenEphysHttpServer.h).
"""
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from . import PLUGIN_NAME

DEFAULT_PORT = 37497
PROBE_TIMEOUT = 0.5  # a GUI on this machine answers at once; nothing listening must not make us wait
# A parameter change waits for the GUI's message thread, which a busy GUI may hold for a moment.
CHANGE_TIMEOUT = 3.0
MODES = ("IDLE", "ACQUIRE", "RECORD")
PYTHON_HOME = "python_home"

# Talk to 127.0.0.1 directly: an http_proxy setting must not capture requests meant for this machine.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class GuiApiError(Exception):
    """The GUI did not answer or refused a request; ``changed`` lists processors already changed."""

    def __init__(self, message: str, status: Optional[int] = None, changed: Optional[List[int]] = None):
        super().__init__(message)
        self.status = status
        self.changed = changed or []


class GuiStatus(NamedTuple):
    mode: str  # IDLE, ACQUIRE or RECORD
    port: int

    @property
    def acquiring(self) -> bool:
        return self.mode != "IDLE"


class GuiProcessor(NamedTuple):
    id: int
    name: str
    parameters: Dict[str, str]  # the GUI sends every value as a string
    predecessor: Optional[int]


def running_gui(port: int = DEFAULT_PORT, timeout: float = PROBE_TIMEOUT) -> Optional[GuiStatus]:
    """The GUI's status, or None when no Open Ephys GUI answers on ``port``."""
    try:
        status, text = _request("GET", port, "/api/status", timeout=timeout)
        mode = json.loads(text).get("mode") if status == 200 else None
    except (GuiApiError, ValueError, AttributeError):
        return None
    return GuiStatus(mode, port) if mode in MODES else None


def python_processors(port: int = DEFAULT_PORT, timeout: float = PROBE_TIMEOUT) -> List[GuiProcessor]:
    """The Python Processors in the running GUI's signal chain."""
    status, text = _request("GET", port, "/api/processors", timeout=timeout)
    if status != 200:
        raise GuiApiError("the GUI on port %d answered %d to GET /api/processors: %s" % (port, status, text), status)
    try:
        processors = [_processor(item) for item in json.loads(text)["processors"]]
    except (ValueError, KeyError, TypeError) as error:
        raise GuiApiError("the GUI on port %d sent an unexpected processor list (%r)" % (port, error),
                          status) from error
    return [processor for processor in processors if processor.name == PLUGIN_NAME]


def set_python_home_live(port: int, python_home: str, timeout: float = CHANGE_TIMEOUT) -> List[int]:
    """Set python_home on every Python Processor of the running GUI; returns the ids that changed."""
    changed = []
    for processor in python_processors(port):
        if processor.parameters.get(PYTHON_HOME) == python_home:
            continue
        _put_python_home(port, processor.id, python_home, timeout, changed)
        changed.append(processor.id)
    return changed


def _put_python_home(port: int, processor_id: int, python_home: str, timeout: float, changed: List[int]) -> None:
    path = "/api/processors/%d/parameters/%s" % (processor_id, PYTHON_HOME)
    body = json.dumps({"value": python_home}).encode("utf-8")
    what = "python_home of Python Processor %d" % processor_id
    try:
        status, text = _request("PUT", port, path, body, timeout)
    except GuiApiError as error:
        raise GuiApiError("could not set %s: %s" % (what, error), error.status, changed) from error
    if status == 400:
        # The GUI's words, e.g. "Cannot change this parameter while acquisition is active."
        raise GuiApiError("the GUI refused to set %s: %s%s" % (what, text.strip(), _hint(text)), status, changed)
    if status == 404:
        raise GuiApiError("Python Processor %d has no python_home parameter (or is gone); is it an older plugin?"
                          % processor_id, status, changed)
    if status != 200:
        raise GuiApiError("the GUI answered %d when setting %s: %s" % (status, what, text), status, changed)
    kept = _json_value(text)
    if kept != python_home:
        raise GuiApiError("the GUI kept %r as %s instead of %r" % (kept, what, python_home), status, changed)


def _hint(text: str) -> str:
    return " Stop acquisition in the GUI, then try again." if "acquisition" in text.lower() else ""


def _json_value(text: str) -> Optional[str]:
    try:
        return json.loads(text).get("value")
    except (ValueError, AttributeError):
        return None


def _processor(item: Dict[str, Any]) -> GuiProcessor:
    parameters = {entry["name"]: entry.get("value") for entry in item.get("parameters", [])}
    return GuiProcessor(int(item["id"]), item.get("name", ""), parameters, item.get("predecessor"))


def _request(method: str, port: int, path: str, body: Optional[bytes] = None,
             timeout: float = PROBE_TIMEOUT) -> Tuple[int, str]:
    """(HTTP status, body text); an error status is an answer, no answer at all is a GuiApiError."""
    url = "http://127.0.0.1:%d%s" % (port, urllib.parse.quote(path))
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode("utf-8", "replace")
    except (http.client.HTTPException, OSError) as error:  # refused, timed out, or not an HTTP server
        reason = getattr(error, "reason", error)
        raise GuiApiError("no Open Ephys GUI answered on port %d (%s)" % (port, reason)) from error
