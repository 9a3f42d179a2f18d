"""The running GUI's HTTP API (oe_bootstrap.gui_api) against a stand-in server that answers as GUI 1.0.1 does."""
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from oe_bootstrap.gui_api import GuiApiError, python_processors, running_gui, set_python_home_live

from support import free_port

NEW_HOME = "/home/zoë/miniforge3/envs/oe python plugin"
PARAMETER_PATH = re.compile(r"^/api/processors/([0-9]+)/parameters/([A-Za-z0-9_.\-]+)$")


class FakeGui:
    """The state behind the stand-in server: mode and processors, as OpenEphysHttpServer.h reports them."""

    def __init__(self):
        self.mode = "IDLE"
        self.requests = []
        self.processors = [
            self._processor(100, "File Reader", None, {"selected_file": "/data/structure.oebin"}),
            self._processor(101, "Python Processor", 100, {"python_home": "/old/env", "script_path": "/s/a.py"}),
            self._processor(102, "Python Processor", 101, {"python_home": "", "script_path": ""}),
        ]

    @staticmethod
    def _processor(node_id, name, predecessor, values):
        # python_home and script_path of our plugin may not change while acquiring
        parameters = [{"name": key, "type": "String", "value": value, "locked": True} for key, value in values.items()]
        return {"id": node_id, "name": name, "parameters": parameters, "streams": [
            {"name": "example_data", "source_id": 100, "sample_rate": 40000.0, "channel_count": 16, "parameters": []}],
            "predecessor": predecessor}

    def public(self, processor):
        shown = dict(processor)
        shown["parameters"] = [{k: v for k, v in p.items() if k != "locked"} for p in processor["parameters"]]
        return shown

    def find(self, node_id, name):
        for processor in self.processors:
            if processor["id"] == node_id:
                return next((p for p in processor["parameters"] if p["name"] == name), None)
        return None


def make_handler(gui):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body, content_type="application/json"):
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            gui.requests.append(("GET", self.path, None))
            if self.path == "/api/status":
                return self.reply(200, json.dumps({"mode": gui.mode}))
            if self.path == "/api/processors":
                return self.reply(200, json.dumps({"processors": [gui.public(p) for p in gui.processors]}))
            self.reply(404, "")

        def do_PUT(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8")
            gui.requests.append(("PUT", self.path, body))
            match = PARAMETER_PATH.match(self.path)
            parameter = gui.find(int(match.group(1)), match.group(2)) if match else None
            if parameter is None:
                return self.reply(404, "")
            if parameter["locked"] and gui.mode != "IDLE":
                return self.reply(400, "Cannot change this parameter while acquisition is active.", "text/plain")
            try:
                request = json.loads(body)
            except ValueError as error:
                return self.reply(400, str(error), "text/plain")
            if "value" not in request:
                return self.reply(400, "Request must contain value.", "text/plain")
            parameter["value"] = str(request["value"])
            self.reply(200, json.dumps({k: v for k, v in parameter.items() if k != "locked"}))

    return Handler


@pytest.fixture
def gui():
    state = FakeGui()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.port = server.server_address[1]
    yield state
    server.shutdown()
    server.server_close()


def test_running_gui_reports_the_mode(gui):
    assert running_gui(gui.port).mode == "IDLE"
    gui.mode = "ACQUIRE"
    status = running_gui(gui.port)
    assert status.mode == "ACQUIRE" and status.acquiring and status.port == gui.port


def test_running_gui_is_none_when_nothing_listens():
    assert running_gui(free_port()) is None


def test_running_gui_is_none_when_the_port_never_answers():
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        assert running_gui(silent.getsockname()[1], timeout=0.2) is None


def test_running_gui_is_none_when_something_else_answers():
    class NotTheGui(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "13")
            self.end_headers()
            self.wfile.write(b"<html></html>")

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotTheGui)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        assert running_gui(server.server_address[1]) is None
    finally:
        server.shutdown()
        server.server_close()


def test_python_processors_lists_only_python_processors(gui):
    processors = python_processors(gui.port)
    assert [(p.id, p.predecessor) for p in processors] == [(101, 100), (102, 101)]
    assert processors[0].parameters == {"python_home": "/old/env", "script_path": "/s/a.py"}


def test_set_python_home_live_changes_every_python_processor(gui):
    assert set_python_home_live(gui.port, NEW_HOME) == [101, 102]
    assert [gui.find(node, "python_home")["value"] for node in (101, 102)] == [NEW_HOME, NEW_HOME]
    puts = [request for request in gui.requests if request[0] == "PUT"]
    assert [path for _, path, _ in puts] == ["/api/processors/101/parameters/python_home",
                                             "/api/processors/102/parameters/python_home"]
    assert json.loads(puts[0][2]) == {"value": NEW_HOME}


def test_set_python_home_live_skips_processors_already_set(gui):
    gui.find(101, "python_home")["value"] = NEW_HOME
    assert set_python_home_live(gui.port, NEW_HOME) == [102]
    assert set_python_home_live(gui.port, NEW_HOME) == []


def test_acquisition_refusal_becomes_a_clear_error(gui):
    gui.mode = "ACQUIRE"
    with pytest.raises(GuiApiError) as caught:
        set_python_home_live(gui.port, NEW_HOME)
    message = str(caught.value)
    assert "Cannot change this parameter while acquisition is active." in message
    assert "Stop acquisition" in message and "Python Processor 101" in message
    assert caught.value.status == 400 and caught.value.changed == []
    assert gui.find(101, "python_home")["value"] == "/old/env"


def test_a_processor_without_python_home_is_reported(gui):
    gui.processors[2]["parameters"] = [p for p in gui.processors[2]["parameters"] if p["name"] != "python_home"]
    with pytest.raises(GuiApiError, match="Python Processor 102 has no python_home") as caught:
        set_python_home_live(gui.port, NEW_HOME)
    assert caught.value.changed == [101]


def test_no_gui_is_a_clear_error():
    port = free_port()
    with pytest.raises(GuiApiError, match="no Open Ephys GUI answered on port %d" % port):
        python_processors(port)


def test_a_proxy_setting_does_not_capture_local_requests(gui, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:%d" % free_port())
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:%d" % free_port())
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert running_gui(gui.port).mode == "IDLE"


# ---------------------------------------------------------------- the real GUI, when one is available

# The same calls against the real GUI: tests/test_gui.py (needs OE_GUI_EXECUTABLE).
