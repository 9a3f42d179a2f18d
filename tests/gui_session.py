"""A real Open Ephys GUI, headless, in a scratch copy with its own saved-state folder, driven through
its HTTP API. Used only when OE_GUI_EXECUTABLE names a built GUI (plugin-GUI v1.0.1)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Optional

from oe_bootstrap.folders import gui_folders
from oe_bootstrap.plugins import install_plugin
from oe_bootstrap.settings import write_python_home
from oe_pyproc.package import bundled_engines, write_plugin_zip

REPO = Path(__file__).resolve().parents[1]
PORT = 37497


def gui_checkout(executable: Path) -> Optional[Path]:
    """The plugin-GUI source tree the executable was built in, for the plugin's headers."""
    if os.environ.get("GUI_BASE_DIR"):
        return Path(os.environ["GUI_BASE_DIR"])
    for folder in executable.resolve().parents:
        if (folder / "Plugins" / "Headers" / "ProcessorHeaders.h").is_file():
            return folder
    return None


def build_plugin(executable: Path) -> Path:
    """OE_PYPROC_PLUGIN if set, else the plugin built against the GUI's own headers (cached in build/)."""
    if os.environ.get("OE_PYPROC_PLUGIN"):
        return Path(os.environ["OE_PYPROC_PLUGIN"])
    import pybind11

    checkout = gui_checkout(executable)
    if checkout is None:
        raise RuntimeError("set GUI_BASE_DIR to the plugin-GUI checkout the GUI was built from")
    build = REPO / "build" / "gui-plugin"
    subprocess.run(["cmake", "-S", str(REPO), "-B", str(build), f"-DGUI_BASE_DIR={checkout}",
                    f"-DPython_EXECUTABLE={sys.executable}", f"-Dpybind11_DIR={pybind11.get_cmake_dir()}"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build), "--target", "python-processor", "--parallel", "2"],
                   check=True, capture_output=True)
    return build / "cpp" / "plugin" / "python-processor.so"


class GuiSession:
    """One GUI process. The executable's folder is copied so that the GUI keeps its state in
    HOME/.config/open-ephys with a scratch HOME (a GUI inside plugin-GUI/Build keeps it beside itself)."""

    def __init__(self, executable: Path, root: Path):
        self.root = root
        self.app = root / "app"
        if not self.app.exists():
            shutil.copytree(executable.parent, self.app, symlinks=True,
                            ignore=shutil.ignore_patterns("plugins", "configs*", "*.xml", "*.log"))
        self.executable = self.app / executable.name
        self.home = root / "home"
        self.folders = gui_folders(system="Linux", environ={}, home=str(self.home),
                                   gui_dir=str(self.home / ".config" / "open-ephys"))
        self.process: Optional[subprocess.Popen] = None
        self.log = root / "gui.log"

    def install(self, plugin: Path, python_home: Optional[Path]) -> None:
        """As a user does: the Plugin Installer zip, then `oe-pyproc setup`'s settings file."""
        zip_path = write_plugin_zip(plugin, bundled_engines("Linux"), self.root / "dist", "Linux")
        install_plugin(self.folders, str(zip_path), "Linux")
        if python_home is not None:
            os.makedirs(self.folders.configs, exist_ok=True)
            write_python_home(self.folders, str(python_home), "test")

    def start(self, chain: Optional[Path] = None, timeout: float = 90) -> None:
        # JUCE finds ~/.config from HOME alone; ALSA reads ~/.asoundrc there, the route to the
        # audio device (a JACK server) that clocks the GUI.
        asoundrc = Path.home() / ".asoundrc"
        self.home.mkdir(parents=True, exist_ok=True)
        if asoundrc.is_file() and not (self.home / ".asoundrc").exists():
            shutil.copy(asoundrc, self.home / ".asoundrc")
        env = dict(os.environ, HOME=str(self.home))
        env.pop("XDG_CONFIG_HOME", None)
        for name in ("OE_PYTHON_HOME", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX"):
            env.pop(name, None)
        self._wait_for_free_port()
        command = [str(self.executable), "--headless"] + ([str(chain)] if chain else [])
        self.process = subprocess.Popen(command, cwd=self.app, env=env, stdout=self.log.open("ab"),
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the GUI exited with {self.process.returncode}; log: {self.log_tail()}")
            try:
                self.get("/api/status")
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"the GUI did not answer on port {PORT}; log: {self.log_tail()}")

    def _wait_for_free_port(self, timeout: float = 30) -> None:
        """A GUI still quitting (or another one) must not answer for this one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.get("/api/status")
            except OSError:
                return
            time.sleep(0.5)
        raise RuntimeError(f"another GUI answers on port {PORT}; close it to run the GUI tests")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def request(self, method: str, path: str, body: Optional[dict] = None, timeout: float = 30):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=data, method=method)
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=timeout) as reply:
            text = reply.read().decode()
        return json.loads(text) if text.strip().startswith(("{", "[")) else text

    def get(self, path: str):
        return self.request("GET", path)

    def put(self, path: str, body: dict):
        return self.request("PUT", path, body)

    def add(self, name: str, source_id: Optional[int] = None) -> int:
        before = {p["id"] for p in self.get("/api/processors")["processors"]}
        self.put("/api/processors/add", {"name": name, **({"source_id": source_id} if source_id else {})})
        added = [p["id"] for p in self.get("/api/processors")["processors"] if p["id"] not in before]
        if len(added) != 1:
            raise RuntimeError(f"adding {name} did not add one processor; log: {self.log_tail()}")
        return added[0]

    def set(self, node_id: int, name: str, value) -> dict:
        return self.put(f"/api/processors/{node_id}/parameters/{name}", {"value": value})

    def python_status(self, node_id: int) -> dict:
        return json.loads(self.put(f"/api/processors/{node_id}/config", {"text": "status"})["info"])

    def record(self, seconds: float) -> None:
        self.put("/api/status", {"mode": "RECORD"})
        time.sleep(seconds)
        self.put("/api/status", {"mode": "IDLE"})
        time.sleep(1.0)

    def stop(self) -> None:
        if not self.alive():
            return
        try:
            self.put("/api/quit", {}, )
            self.process.wait(timeout=30)
        except Exception:
            self.process.kill()
            self.process.wait()
