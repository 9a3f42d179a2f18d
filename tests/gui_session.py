"""A real Open Ephys GUI, headless, in a scratch copy with its own saved-state folder, driven through
its HTTP API, and the JACK server that clocks it.

Which GUI: OE_GUI_EXECUTABLE, else GUI_BASE_DIR/Build/Release/open-ephys, else the prebuilt GUI
beside the project (../shared/open-ephys-gui). Without one, the GUI tests skip with find_gui()'s reason."""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Optional, Tuple

from oe_bootstrap.folders import gui_folders
from oe_bootstrap.plugins import install_plugin
from oe_bootstrap.settings import write_python_home
from oe_pyproc.package import bundled_engines, write_plugin_zip
from support import wait_until

REPO = Path(__file__).resolve().parents[1]
PREBUILT_GUI = REPO.parent / "shared" / "open-ephys-gui"
GUI_RELATIVE_PATH = Path("Build") / "Release" / "open-ephys"
PORT = 37497
JACK_SERVER = f"oe-pyproc-tests-{os.getpid()}"  # our own server name: a user's JACK server is left alone

# ALSA's default device, routed to the JACK server: written into each test GUI's HOME.
ASOUNDRC = """\
pcm.!default {
    type plug
    slave.pcm "oe_jack"
}
pcm.oe_jack {
    type jack
    playback_ports { 0 system:playback_1
                     1 system:playback_2 }
    capture_ports { 0 system:capture_1
                    1 system:capture_2 }
}
"""


def gui_base_dir() -> Optional[Path]:
    """The GUI tree whose headers the plugin compiles against."""
    if os.environ.get("GUI_BASE_DIR"):
        return Path(os.environ["GUI_BASE_DIR"])
    if os.environ.get("OE_GUI_EXECUTABLE"):
        for folder in Path(os.environ["OE_GUI_EXECUTABLE"]).resolve().parents:
            if (folder / "Plugins" / "Headers" / "ProcessorHeaders.h").is_file():
                return folder
        return None
    return PREBUILT_GUI if (PREBUILT_GUI / "Plugins" / "Headers" / "ProcessorHeaders.h").is_file() else None


def find_gui() -> Tuple[Optional[Path], str]:
    """(the GUI executable, "") or (None, why the GUI tests cannot run here)."""
    if os.environ.get("OE_GUI_EXECUTABLE"):
        executable = Path(os.environ["OE_GUI_EXECUTABLE"])
    elif gui_base_dir() is not None:
        executable = gui_base_dir() / GUI_RELATIVE_PATH
    else:
        return None, (f"no Open Ephys GUI: set OE_GUI_EXECUTABLE (or GUI_BASE_DIR) to a GUI 1.0.1 build, "
                      f"or place the prebuilt one at {PREBUILT_GUI}")
    if not sys.platform.startswith("linux"):
        return None, "the GUI tests drive a Linux GUI clocked by JACK"
    if not os.access(executable, os.X_OK):
        return None, f"the GUI {executable} does not exist or is not executable"
    if gui_base_dir() is None:
        return None, f"no plugin-GUI headers for {executable}: set GUI_BASE_DIR"
    missing = [tool for tool in ("jackd", "jack_wait") if shutil.which(tool) is None]
    if missing:
        return None, f"{', '.join(missing)} not found: install Debian's jackd2 (./dev test does)"
    if not alsa_jack_plugin_installed():
        return None, "ALSA's JACK plugin is missing: install Debian's libasound2-plugins (./dev test does)"
    return executable, ""


def alsa_jack_plugin_installed() -> bool:
    folders = [Path("/usr/lib/x86_64-linux-gnu/alsa-lib"), Path("/usr/lib/aarch64-linux-gnu/alsa-lib"),
               Path("/usr/lib/alsa-lib"), Path("/usr/lib64/alsa-lib")]
    return any((folder / "libasound_module_pcm_jack.so").is_file() for folder in folders)


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL if the test process dies, so nothing outlives a killed run."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class JackServer:
    """`jackd` with the dummy driver (44.1 kHz, 1024 frames) under a name of its own, for one test run.
    REALTIME: as a Linux audio setup runs it, its clients' audio threads SCHED_FIFO (needs the right to)."""

    def __init__(self, log: Path, realtime: bool = False):
        self.log = log
        self.realtime = realtime
        self.process: Optional[subprocess.Popen] = None

    def env(self) -> dict:
        return {"JACK_DEFAULT_SERVER": JACK_SERVER, "JACK_NO_START_SERVER": "1"}

    def start(self, timeout: float = 30) -> None:
        command = ["jackd", "--name", JACK_SERVER, "--realtime" if self.realtime else "--no-realtime",
                   "-d", "dummy", "-r", "44100", "-p", "1024"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            env=dict(os.environ, **self.env()), preexec_fn=die_with_parent)
        waited = subprocess.run(["jack_wait", "--server", JACK_SERVER, "--wait", "--timeout", str(int(timeout))],
                                env=dict(os.environ, **self.env()), capture_output=True, text=True)
        if waited.returncode != 0 or self.process.poll() is not None:
            self.stop()
            raise RuntimeError(f"the JACK server did not start: {waited.stdout}{waited.stderr}\n"
                               + self.log.read_text(errors="replace")[-2000:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def build_plugin() -> Path:
    """OE_PYPROC_PLUGIN if set, else the plugin built against the GUI's headers (cached in build/)."""
    if os.environ.get("OE_PYPROC_PLUGIN"):
        return Path(os.environ["OE_PYPROC_PLUGIN"])
    import pybind11

    build = REPO / "build" / "gui-plugin"
    subprocess.run(["cmake", "-S", str(REPO), "-B", str(build), f"-DGUI_BASE_DIR={gui_base_dir()}",
                    f"-DPython_EXECUTABLE={sys.executable}", f"-Dpybind11_DIR={pybind11.get_cmake_dir()}"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build), "--target", "python-processor", "--parallel", "2"],
                   check=True, capture_output=True)
    return build / "cpp" / "plugin" / "python-processor.so"


class GuiSession:
    """One GUI process. The executable's folder is copied so that the GUI keeps its state in
    HOME/.config/open-ephys with a scratch HOME (a GUI inside plugin-GUI/Build keeps it beside itself)."""

    def __init__(self, executable: Path, root: Path, jack: JackServer):
        self.root = root
        self.jack = jack
        self.app = root / "app"
        if not self.app.exists():
            # The GUI's built-in plugins come along; a Python Processor there would shadow ours.
            shutil.copytree(executable.parent, self.app, symlinks=True,
                            ignore=shutil.ignore_patterns("python-processor*", "configs*", "*.xml", "*.log"))
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

    def start(self, chain: Optional[Path] = None, timeout: float = 90, display: Optional[str] = None,
              extra_env: Optional[dict] = None) -> None:
        """Headless, or in a window on DISPLAY (an Xvfb screen, for screenshots); EXTRA_ENV: variables the
        GUI gets besides (e.g. OE_PYPROC_LIVE_DIR)."""
        # JUCE finds ~/.config from HOME alone; ALSA reads ~/.asoundrc there: its default device is
        # the JACK server that clocks the GUI.
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / ".asoundrc").write_text(ASOUNDRC)
        env = dict(os.environ, HOME=str(self.home), **self.jack.env())
        for name in ("XDG_CONFIG_HOME", "OE_PYTHON_HOME", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX", "ALSA_CONFIG_PATH"):
            env.pop(name, None)
        self._wait_for_free_port()
        if display:
            env["DISPLAY"] = display
        env.update(extra_env or {})
        command = [str(self.executable)] + ([] if display else ["--headless"]) + ([str(chain)] if chain else [])
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=self.app, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=die_with_parent)
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
        answer = self.put(f"/api/processors/{node_id}/parameters/{name}", {"value": value})
        if name in ("script_path", "execution", "python_home"):  # a Python Processor's module loads anew
            self.wait_while_loading(node_id)
        return answer

    def wait_while_loading(self, node_id: int, timeout: float = 60) -> dict:
        """The Python Processor NODE_ID's status once its module is no longer loading (isolated mode loads
        it in its worker while the GUI goes on)."""
        return wait_until(lambda: (lambda status: status if status["state"] != "loading" else None)(
            self.python_status(node_id)), f"processor {node_id} to finish loading its module", timeout, 0.05)

    def python_status(self, node_id: int) -> dict:
        return self.python_command(node_id, "status")

    def python_command(self, node_id: int, command: str) -> dict:
        """A config command of the Python Processor NODE_ID ("status", "reload", "live_view"): its status."""
        info = self.put(f"/api/processors/{node_id}/config", {"text": command})["info"]
        try:
            status = json.loads(info)
        except ValueError:
            raise RuntimeError(f"processor {node_id} answered {command!r} with {info!r}") from None
        return self.wait_while_loading(node_id) if command == "reload" else status

    def acquire(self, node_id: int, blocks: int, mode: str = "RECORD", timeout: float = 120,
                then: Optional[Callable[[], None]] = None) -> None:
        """Acquires (and records) until the Python Processor NODE_ID has processed BLOCKS more buffers,
        calls THEN while still acquiring, and stops: the amount of data is set by the count, not by how
        fast this machine is."""
        start = self.python_status(node_id)["calls"]
        self.put("/api/status", {"mode": mode})
        try:
            self.wait_for_calls(node_id, start + blocks, timeout)
            if then is not None:
                then()
        finally:
            # Returns once acquisition stopped; the Record Node has then closed its files.
            self.put("/api/status", {"mode": "IDLE"})

    def wait_for_calls(self, node_id: int, calls: int, timeout: float = 120) -> None:
        """Until the Python Processor NODE_ID has processed CALLS buffers in all (its status counts them)."""
        deadline = time.monotonic() + timeout
        while self.python_status(node_id)["calls"] < calls:
            if time.monotonic() > deadline or not self.alive():
                raise RuntimeError(f"processor {node_id} did not reach {calls} buffers in {timeout} s: "
                                   f"{self.python_status(node_id)}")
            time.sleep(0.1)

    def stop(self) -> None:
        if not self.alive():
            return
        try:
            self.put("/api/quit", {}, )
            self.process.wait(timeout=30)
        except Exception:
            self.process.kill()
            self.process.wait()
