"""`oe-pyproc view`: a module's published values, through the real engine in pyproc-host, the ring and the
Bokeh server, into a real page in headless Chromium, where the data sources must hold exactly what was
published. OE_PYPROC_UPDATE_SCREENSHOTS=1 also writes docs/images/viewer.png.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from oe_pyproc import live
from oe_pyproc.host import host_command
from oe_pyproc.viewer import WINDOW_SECONDS, InstanceView
from support import free_port, synthetic_ttl_edges, wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REPOSITORY = Path(__file__).resolve().parents[1]
SCREENSHOT = REPOSITORY / "docs" / "images" / "viewer.png"
RATE, BLOCK = 1000, 20
# Long enough to outlast any page load while the module paces itself; it ends fast once told to stop.
PACED_INPUT = f"synthetic:channels=2,rate={RATE},seconds=600,block={BLOCK}"
WAIT_MS = 60_000

# The module the host runs, for its constants.
_spec = importlib.util.spec_from_file_location("publish_known", Path(__file__).parent / "scripts" / "publish_known.py")
known = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(known)

# A data source of the page as plain lists: typed arrays become lists, images {"shape", "values"}.
READ_SOURCE = """name => {
  const model = Bokeh.documents[0].get_model_by_name(name);
  if (!model) return null;
  const data = model.data instanceof Map ? Object.fromEntries(model.data) : model.data;
  const plain = value => value && value.shape ? {shape: Array.from(value.shape), values: Array.from(value)} : value;
  return Object.fromEntries(Object.entries(data).map(([key, column]) => [key, Array.from(column, plain)]));
}"""
DOCUMENT_READY = "() => window.Bokeh !== undefined && Bokeh.documents.length > 0"
DIV_TEXTS = """() => Array.from(Bokeh.documents[0].all_models).filter(m => m.type === "Div" && m.visible)
  .map(m => m.text)"""
HAS_DATA = f"""name => {{ const data = ({READ_SOURCE})(name);
  return data !== null && Object.values(data)[0].length > 0; }}"""


@pytest.fixture(scope="module")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install '.[test]')")
    if not os.path.exists(CHROMIUM):
        pytest.skip("needs Debian's chromium (./dev test installs it: apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def live_env(tmp_path) -> dict:
    """The environment of the host and the viewer: rings and viewer.json in a folder of this test's own."""
    return {**os.environ, "OE_PYPROC_LIVE_DIR": str(tmp_path / "live")}


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class Viewer:
    """`oe-pyproc view` as a process of its own, its output in files."""

    def __init__(self, env: dict, folder: Path, *arguments: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.stdout, self.stderr = folder / f"viewer-{self.port}.out", folder / f"viewer-{self.port}.err"
        command = [sys.executable, "-m", "oe_pyproc", "view", "--port", str(self.port), *arguments]
        with open(self.stdout, "w") as out, open(self.stderr, "w") as err:
            self.process = subprocess.Popen(command, env=env, stdout=out, stderr=err)

    def wait_listening(self, url: str | None = None) -> None:
        wait_until(lambda: answers(url or self.url) or self.process.poll() is not None, "the viewer to listen")
        assert self.process.poll() is None, self.output()

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def viewers(live_env, tmp_path):
    started = []

    def start(*arguments: str) -> Viewer:
        started.append(Viewer(live_env, tmp_path, *arguments))
        return started[-1]
    yield start
    for viewer in started:
        if viewer.process.poll() is None:
            viewer.process.kill()
            viewer.process.wait()


class PacedHost:
    """pyproc-host running publish_known.py in the background until stop()."""

    def __init__(self, pyhost, env: dict):
        self.script = pyhost.script("publish_known.py")
        self.stop_file = self.script.parent / "stop"
        command = host_command([self.script], pyhost.python_home, input_source=PACED_INPUT,
                               extra=["--timeout", "300"])
        self.stderr = self.script.parent / "host.err"
        with open(self.stderr, "w") as err:
            self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=err, text=True)

    def stop(self):
        """Lets the module run through the rest of its input; returns (exit status, summary)."""
        self.stop_file.touch()
        stdout, _ = self.process.communicate(timeout=120)
        return self.process.returncode, json.loads(stdout) if stdout.strip() else None


@pytest.fixture
def paced_hosts(pyhost, live_env):
    started = []

    def start() -> PacedHost:
        started.append(PacedHost(pyhost, live_env))
        return started[-1]
    yield start
    for host in started:
        if host.process.poll() is None:
            host.process.kill()
            host.process.wait()


def source_name(page, suffix: str) -> str:
    """The full name (<pid>-<instance>/<suffix>) of the one data source ending in /suffix, once there."""
    find = """suffix => Array.from(Bokeh.documents[0].all_models, m => m.name)
      .filter(n => n && n.endsWith("/" + suffix))"""
    page.wait_for_function(f"suffix => ({DOCUMENT_READY})() && ({find})(suffix).length > 0", arg=suffix,
                           timeout=WAIT_MS)
    names = page.evaluate(find, suffix)
    assert len(names) == 1, names
    return names[0]


def expected_received(last_sample: int) -> list:
    """The synthetic source's TTL edges before last_sample, as the page names them."""
    return [(sample, line, "on" if state else "off") for sample, line, state in synthetic_ttl_edges(last_sample, RATE)]


def test_published_values_reach_the_page_exactly(chromium, viewers, paced_hosts):
    viewer = viewers()
    viewer.wait_listening()
    page = chromium.new_page(viewport={"width": 1200, "height": 800})
    page.goto(viewer.url)
    page.wait_for_function(DOCUMENT_READY, timeout=WAIT_MS)
    assert any("waiting for instances" in text for text in page.evaluate(DIV_TEXTS))

    host = paced_hosts()  # started after the page loaded: the page picks it up by itself
    sine = source_name(page, "sine")
    key = sine.split("/")[0]
    enough = 400 if os.environ.get("OE_PYPROC_UPDATE_SCREENSHOTS") == "1" else 100
    page.wait_for_function(f"() => ({READ_SOURCE})({json.dumps(sine)}).value.length >= {enough}", timeout=WAIT_MS)
    for name in ("ramp", "picture", "curve"):
        page.wait_for_function(HAS_DATA, arg=f"{key}/{name}", timeout=WAIT_MS)
    data = page.evaluate(f"""() => Object.fromEntries(["sine", "events", "ramp", "picture", "curve"]
        .map(name => [name, ({READ_SOURCE})("{key}/" + name)]))""")
    assert not any("waiting for instances" in text for text in page.evaluate(DIV_TEXTS))
    assert any("publish_known" in text and "pyproc-host" in text for text in page.evaluate(DIV_TEXTS))

    samples = np.array(data["sine"]["sample_number"])
    assert samples[0] == 0 and (np.diff(samples) == BLOCK).all(), "one value per buffer, from the first, none lost"
    np.testing.assert_allclose(data["sine"]["value"], np.sin(2 * np.pi * known.FREQUENCY * samples / RATE),
                               rtol=0, atol=1e-12)
    np.testing.assert_array_equal(data["sine"]["t"], samples / RATE)

    ramp = data["ramp"]["image"][0]
    assert ramp["shape"] == list(known.RAMP.shape)
    np.testing.assert_array_equal(np.reshape(ramp["values"], ramp["shape"]), known.RAMP)
    assert (data["ramp"]["dw"], data["ramp"]["dh"]) == ([known.RAMP.shape[1]], [known.RAMP.shape[0]])
    picture = data["picture"]["image"][0]
    # One uint32 per RGBA pixel, bottom row first (Bokeh draws row 0 at the bottom).
    expected = np.ascontiguousarray(known.PICTURE[::-1]).view("<u4").reshape(known.PICTURE.shape[:2])
    np.testing.assert_array_equal(np.reshape(picture["values"], picture["shape"]), expected)
    np.testing.assert_array_equal(data["curve"]["x"], known.CURVE_X)
    np.testing.assert_array_equal(data["curve"]["y"], known.CURVE_Y)

    events = data["events"]
    marks = list(zip(events["sample_number"], events["line"], events["state"], events["direction"]))
    last = int(samples[-1])  # the events of every buffer before the last one are in
    received = sorted((int(s), int(line), state) for s, line, state, way in marks if way == "received" and s < last)
    assert received == expected_received(last)
    sent = sorted((int(s), int(line), state) for s, line, state, way in marks if way == "sent" and s < last)
    first_samples = range(0, last, 50 * BLOCK)
    assert sent == sorted([(s, 5, "on") for s in first_samples] + [(s + known.SENT_OFFSET, 5, "off")
                                                                    for s in first_samples])

    if os.environ.get("OE_PYPROC_UPDATE_SCREENSHOTS") == "1":
        page.wait_for_timeout(500)  # the last update drawn
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    returncode, summary = host.stop()
    assert returncode == 0 and summary["instances"][0]["state"] == "ready", host.stderr.read_text()
    page.wait_for_function(f"() => ({DIV_TEXTS})().some(text => text.includes('(ended)'))", timeout=WAIT_MS)
    assert page.evaluate(READ_SOURCE, sine)["value"], "an ended instance keeps its plots"
    assert viewer.stop() == 0


def test_a_viewer_killed_mid_run_leaves_the_host_unchanged(chromium, viewers, paced_hosts, live_env):
    host = paced_hosts()
    viewer = viewers()
    viewer.wait_listening()
    page = chromium.new_page()
    page.goto(viewer.url)
    sine = source_name(page, "sine")
    page.wait_for_function(f"() => ({READ_SOURCE})({json.dumps(sine)}).value.length >= 20", timeout=WAIT_MS)
    viewer.process.send_signal(signal.SIGKILL)
    viewer.process.wait()
    page.close()

    returncode, summary = host.stop()
    assert returncode == 0, host.stderr.read_text()
    instance = summary["instances"][0]
    assert instance["state"] == "ready" and not instance["error"] and not instance["warnings"]
    assert instance["calls"] == 600 * RATE // BLOCK
    # Its viewer.json is left behind, but names a dead process: --open starts a new viewer, not that one.
    assert json.loads((Path(live_env["OE_PYPROC_LIVE_DIR"]) / "viewer.json").read_text())["pid"] == viewer.process.pid


def test_a_non_loopback_bind_warns_and_the_page_works_at_the_printed_url(chromium, viewers, live_env):
    viewer = viewers("--bind", "0.0.0.0")
    viewer.wait_listening()
    output = viewer.output()
    assert "anyone who can reach port" in output and "only reads" in output, output
    url = re.search(r"viewer at (\S+)", output)[1]
    assert json.loads((Path(live_env["OE_PYPROC_LIVE_DIR"]) / "viewer.json").read_text()) == {
        "pid": viewer.process.pid, "url": url}
    if answers(url):  # this machine's name resolves here: the page must connect there too (its websocket origin)
        page = chromium.new_page()
        page.goto(url)
        page.wait_for_function(DOCUMENT_READY, timeout=WAIT_MS)
        page.close()
    assert viewer.stop() == 0
    assert not (Path(live_env["OE_PYPROC_LIVE_DIR"]) / "viewer.json").exists(), "removed on SIGTERM"


def test_open_starts_a_viewer_and_opens_it_or_opens_the_one_running(live_env, tmp_path):
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"  # webbrowser runs $BROWSER with the URL
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(0o755)
    env = {**live_env, "BROWSER": str(browser)}
    viewer = Viewer(env, tmp_path, "--open")
    try:
        viewer.wait_listening()
        assert "warning" not in viewer.output() and viewer.url in viewer.output()
        wait_until(lambda: opened.exists() and opened.read_text() == viewer.url + "\n", "the browser to be opened")
        done = subprocess.run([sys.executable, "-m", "oe_pyproc", "view", "--open", "--port", str(free_port())],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"already running: {viewer.url}" in done.stdout
        assert opened.read_text() == 2 * (viewer.url + "\n")
    finally:
        assert viewer.stop() == 0


def test_stop_ends_the_running_viewer(viewers, live_env):
    viewer = viewers()
    viewer.wait_listening()
    stop = [sys.executable, "-m", "oe_pyproc", "view", "--stop"]
    done = subprocess.run(stop, env=live_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and f"stopped the viewer (pid {viewer.process.pid})" in done.stdout, done.stdout
    assert viewer.process.wait(timeout=30) == 0
    assert not (Path(live_env["OE_PYPROC_LIVE_DIR"]) / "viewer.json").exists()
    again = subprocess.run(stop, env=live_env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "no viewer is running" in again.stdout


# --- the page's own bookkeeping, without a browser ---

class StubInstance:
    """What InstanceView reads of a live.Instance, fed by the test."""
    key, pid, program, label, sample_rate, alive = "1-2", 1, "pyproc-host", "7 stub", 1000.0, True

    def __init__(self):
        self.pending = []
        self.lost = 0

    def reader(self, start):
        return self

    def read(self):
        frames, self.pending = self.pending, []
        return frames

    def close(self):
        pass


def scalar(sample_number: int, value: float) -> live.Frame:
    return live.Frame("1-2", 0, "scalar", "power", sample_number, value)


def event(sample_number: int, direction: str = "received") -> live.Frame:
    return live.Frame("1-2", 0, "event", None, sample_number, None, line=1, state=True, direction=direction)


def test_a_strip_chart_keeps_the_last_30_seconds_and_starts_over_with_a_new_acquisition():
    stub = StubInstance()
    view = InstanceView(stub)
    stub.pending = [scalar(sample, sample / 1000) for sample in range(0, 40_000, 100)] + [event(500), event(39_000)]
    view.update()
    data = view.charts["power"].source.data
    assert WINDOW_SECONDS == 30
    np.testing.assert_array_equal(data["sample_number"], np.arange(9_900, 40_000, 100))  # 39.9 s and 30 s before
    np.testing.assert_array_equal(data["t"], data["sample_number"] / 1000)
    np.testing.assert_array_equal(data["value"], data["sample_number"] / 1000)
    assert list(view.events.source.data["sample_number"]) == [39_000], "an event older than the window is gone"

    stub.pending = [scalar(40_000, 1.0), event(40_050), scalar(0, 2.0), scalar(100, 3.0), event(150, "sent")]
    view.update()  # the module's stream started again at sample 0 (acquisition stopped and started)
    data = view.charts["power"].source.data
    assert list(data["sample_number"]) == [0, 100] and list(data["value"]) == [2.0, 3.0]
    assert list(view.events.source.data["sample_number"]) == [150]
    assert list(view.events.source.data["direction"]) == ["sent"]


def test_a_picture_is_one_uint32_per_pixel_with_its_top_row_last():
    stub = StubInstance()
    view = InstanceView(stub)
    picture = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    stub.pending = [live.Frame("1-2", 0, "picture", "frame", 0, picture)]
    view.update()
    image = view.charts["frame"].source.data["image"][0]
    assert image.dtype == np.uint32 and image.shape == (2, 3)
    np.testing.assert_array_equal(image[1].view(np.uint8).reshape(3, 4), picture[0])  # top row drawn on top
