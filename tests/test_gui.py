"""The plugin in the real Open Ephys GUI, headless, driven through its HTTP API: File Reader ->
Python Processor -> Record Node. The GUI is the one gui_session.find_gui() names (OE_GUI_EXECUTABLE,
GUI_BASE_DIR, or the prebuilt GUI v1.0.1 beside the project); the plugin is built against its headers
(or OE_PYPROC_PLUGIN). A JACK server with the dummy driver clocks every GUI of the run.

The recording is compared with the input transformed offline, sample by sample."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from conftest import spike_channel_name, write_recording
from gui_session import GuiSession, JackServer, build_plugin, find_gui
from support import wait_until, workers_of
from oe_pyproc import live
from oe_pyproc.host import current_python_home
from oe_pyprocessor._runtime import RESERVED_NAMES

GUI, NO_GUI_REASON = find_gui()
pytestmark = pytest.mark.skipif(GUI is None, reason=NO_GUI_REASON)

RATE = 30000
# 20 s: longer than any recording here, so the File Reader never loops within one. Where it loops
# (test_events_keep_the_guis_sample_numbers_where_the_file_reader_loops), the Record Node's continuous
# sample numbers are its own guess (see docs/plugin.md), so only there events are compared without them.
SAMPLES = 20 * RATE
PERIOD = 3000            # channel 0 is a square wave, rising where sample % PERIOD == PERIOD // 2
BIT_VOLTS = 0.1
HIGH_UV = 1000.0
BLOCKS = 130             # buffers recorded per test: 3 s in blocks of about 697 samples
EDGE_MARGIN = 1024       # the Record Node starts and stops between its own reads of events and data

EDGES_SCRIPT = '''
import numpy as np

class PyProcessor:
    """Inverts and doubles every channel; at each rising edge of channel 0 sends TTL line 3 on
    and a spike whose waveform holds the edge's index."""
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.seen = 0
        self.was_high = False
        self.edges = 0

    def start_acquisition(self):
        self.seen = 0
        self.was_high = False

    def process(self, data):
        high = data[0] > 500.0
        before = np.concatenate(([self.was_high], high[:-1]))
        for offset in np.flatnonzero(high & ~before):
            self.processor.add_python_event(3, True, int(offset))
            waveform = np.full((1, 40), float(self.edges % 100), dtype=np.float32)
            self.processor.add_python_spike(self.seen + int(offset), waveform, sorted_id=1 + self.edges % 5)
            self.edges += 1
        self.was_high = bool(high[-1])
        self.seen += data.shape[1]
        data *= -2.0
'''

SCALE_SCRIPT = '''
class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        pass

    def process(self, data):
        data *= -2.0
'''

RAISING_SCRIPT = '''
class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.calls = 0

    def process(self, data):
        self.calls += 1
        if self.calls == 5:
            return 1 / 0
        data += 1000.0
'''


def input_signal(channels: int = 8, samples: int = SAMPLES) -> np.ndarray:
    """samples x channels in microvolts: the square wave on channel 0, sines elsewhere."""
    t = np.arange(samples)
    signal = np.empty((samples, channels))
    signal[:, 0] = np.where(t % PERIOD >= PERIOD // 2, HIGH_UV, -HIGH_UV)
    for channel in range(1, channels):
        signal[:, channel] = 200.0 * np.sin(2 * np.pi * channel * 7 * t / RATE)
    return signal


@pytest.fixture(scope="module")
def plugin() -> Path:
    return build_plugin()


@pytest.fixture(scope="module")
def jack(tmp_path_factory):
    server = JackServer(tmp_path_factory.mktemp("jack") / "jackd.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def new_gui(request, tmp_path, plugin, jack):
    """Makes GUI sessions with the plugin installed; each is stopped after the test, and a failing
    test shows the tail of each one's log (conftest.py)."""
    sessions = []
    request.node.gui_sessions = sessions

    def make(python_home=None, folder: str = "gui") -> GuiSession:
        gui = GuiSession(GUI, tmp_path / folder, jack)
        gui.install(plugin, python_home)
        sessions.append(gui)
        return gui

    yield make
    for gui in sessions:
        gui.stop()


@pytest.fixture
def session(new_gui):
    gui = new_gui(current_python_home())  # the Python Home comes from the settings file alone
    gui.start()
    return gui


@pytest.fixture
def input_file(tmp_path) -> Path:
    folder = write_recording(tmp_path / "input", input_signal(), RATE, BIT_VOLTS)
    return next(folder.rglob("structure.oebin"))


def chain(gui: GuiSession, input_file: Path, scripts, record_dir: Path):
    """File Reader -> one Python Processor per script -> Record Node; returns the processors' ids."""
    reader = gui.add("File Reader")
    gui.set(reader, "selected_file", str(input_file))
    previous, pythons = reader, []
    for script in scripts:
        node = gui.add("Python Processor", previous)
        gui.set(node, "script_path", str(script))
        pythons.append(node)
        previous = node
    recorder = gui.add("Record Node", previous)
    record_dir.mkdir(exist_ok=True)
    gui.set(recorder, "directory", str(record_dir))
    for node in pythons:
        # These tests compare every sample: a generous deadline keeps a busy machine's hiccup from
        # passing a buffer through untouched (test_gui_isolation.py is about that).
        gui.set(node, "deadline_ms", 100.0)
        gui.wait_while_loading(node)  # a chain that changed may have rebuilt an instance: it loads anew
    return pythons, recorder


def recorded(record_dir: Path):
    from open_ephys.analysis import Session

    (session_dir,) = list(record_dir.iterdir())  # the Record Node writes into a dated folder
    return Session(str(session_dir)).recordnodes[0].recordings[0]


def expected_steps(sample_numbers: np.ndarray, transform) -> np.ndarray:
    steps = np.rint(input_signal() / BIT_VOLTS)
    return np.rint(transform(steps[sample_numbers] * BIT_VOLTS) / BIT_VOLTS)


def interior(sample_numbers: np.ndarray, recorded_numbers: np.ndarray) -> np.ndarray:
    """Those of SAMPLE_NUMBERS at least EDGE_MARGIN from both ends of the recording."""
    return sample_numbers[(sample_numbers >= recorded_numbers[0] + EDGE_MARGIN)
                          & (sample_numbers <= recorded_numbers[-1] - EDGE_MARGIN)]


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(source)
    return path


def test_recording_equals_the_offline_transform_with_events_and_spikes_at_their_samples(session, input_file,
                                                                                         tmp_path):
    script = write(tmp_path, "edges.py", EDGES_SCRIPT)
    (python,), _ = chain(session, input_file, [script], tmp_path / "rec")
    status = session.python_status(python)
    assert status["state"] == "ready", status
    assert str(current_python_home()) in status["python_home"]
    assert "python-processor.json" in status["python_home"]  # the source: the settings file, no dialog

    session.acquire(python, BLOCKS)
    rec = recorded(tmp_path / "rec")
    continuous = rec.continuous[0]
    sample_numbers = np.asarray(continuous.sample_numbers, dtype=np.int64)
    assert len(sample_numbers) >= BLOCKS * 600 and (np.diff(sample_numbers) == 1).all()
    stored = np.asarray(continuous.samples)[:, :8].astype(np.float64)
    assert np.abs(stored - expected_steps(sample_numbers, lambda uv: -2.0 * uv)).max() <= 1

    # Every rising edge inside the recording has its event, at its sample, and nothing else does.
    edges = sample_numbers[(sample_numbers % PERIOD) == PERIOD // 2]
    events = rec.events[(rec.events.processor_id == python) & (rec.events.line == 4)]  # line 3, 1-based
    assert set(events.state) == {1}
    assert list(interior(np.sort(events.sample_number.to_numpy()), sample_numbers)) == list(interior(edges, sample_numbers))
    assert len(interior(edges, sample_numbers)) >= 20

    # Python numbered its spikes by counting samples since acquisition started: the GUI's sample
    # numbers, as the File Reader starts at 0 and does not loop here.
    spikes = [s for s in rec.spikes if spike_channel_name(s) == "Python Spikes"]
    assert len(spikes) == 1
    spike_numbers = np.asarray(spikes[0].sample_numbers)
    assert list(interior(np.sort(spike_numbers), sample_numbers)) == list(interior(edges, sample_numbers))
    waveforms = np.asarray(spikes[0].waveforms)
    assert waveforms.shape == (len(spike_numbers), 1, 40)
    index = spike_numbers // PERIOD  # Python's edge counter, from 0 at the first edge of the file
    assert np.allclose(waveforms[:, 0, :], (index % 100)[:, None], atol=1e-3)
    assert list(np.asarray(spikes[0].clusters)) == list(1 + index % 5)
    assert session.alive()


def test_events_keep_the_guis_sample_numbers_where_the_file_reader_loops(session, tmp_path):
    """The File Reader restarts its sample numbers at 0 after the block that crosses the file's end.
    The plugin stamps each event at its block's first sample number plus its offset, so across the
    jump the events go on from the GUI's new numbers: in a 1 s file, edges at 1500, 4500, ... 28500,
    and again from 1500, with none missing and none outside the file."""
    short = 30000
    folder = write_recording(tmp_path / "short", input_signal(samples=short), RATE, BIT_VOLTS)
    (python,), _ = chain(session, next(folder.rglob("structure.oebin")),
                         [write(tmp_path, "edges.py", EDGES_SCRIPT)], tmp_path / "rec")
    session.acquire(python, BLOCKS)
    # In the order the Record Node wrote them (open-ephys-python-tools sorts by sample number).
    (ttl,) = (tmp_path / "rec").rglob(f"events/Python_Processor-{python}.*/TTL")
    numbers = np.load(ttl / "sample_numbers.npy")
    assert set(np.load(ttl / "states.npy")) == {4}  # line 3 (1-based), on
    assert len(numbers) >= 25  # three passes of 10 edges, less the edges of the recording
    assert ((numbers % PERIOD) == PERIOD // 2).all() and (numbers < short).all()
    steps = np.diff(numbers)
    restarts = steps < 0
    assert restarts.sum() >= 2  # the file looped at least twice while recording
    assert (steps[~restarts] == PERIOD).all()  # no edge missing or doubled within a pass
    assert (numbers[1:][restarts] == PERIOD // 2).all() and (numbers[:-1][restarts] == short - PERIOD // 2).all()
    # The stored data are the file's, in order, across each loop (the Record Node may shift where
    # its sample numbers jump, never the data).
    rec = recorded(tmp_path / "rec")
    stored = np.asarray(rec.continuous[0].samples)[:, 0].astype(np.float64)
    file_steps = np.rint(input_signal(samples=short)[:, 0] / BIT_VOLTS)
    first = int(np.asarray(rec.continuous[0].sample_numbers)[0])
    positions = (first + np.arange(len(stored))) % short
    assert (stored == np.rint(-2.0 * file_steps[positions])).all()


def test_two_instances_and_a_raising_script_leave_the_gui_running(session, input_file, tmp_path):
    raising = write(tmp_path, "raises.py", RAISING_SCRIPT)
    scale = write(tmp_path, "scale.py", SCALE_SCRIPT)
    (first, second), _ = chain(session, input_file, [raising, scale], tmp_path / "rec")
    session.acquire(second, BLOCKS)
    assert session.alive()
    first_status, second_status = session.python_status(first), session.python_status(second)
    assert first_status["state"] == "errored"
    assert "ZeroDivisionError" in first_status["details"] and "raises.py" in first_status["details"]
    assert second_status["state"] == "ready"
    # After the error the first instance passes data through: only the second one's transform remains.
    rec = recorded(tmp_path / "rec")
    numbers = np.asarray(rec.continuous[0].sample_numbers, dtype=np.int64)
    stored = np.asarray(rec.continuous[0].samples)[:, :8].astype(np.float64)
    late = numbers >= numbers[0] + 10 * 1024
    assert np.abs(stored[late] - expected_steps(numbers[late], lambda uv: -2.0 * uv)).max() <= 1
    assert "ZeroDivisionError" in session.log_tail(400)  # the traceback reached the GUI's log

    # Removing the errored instance leaves the other one working.
    session.put("/api/processors/delete", {"id": first})
    (tmp_path / "rec2").mkdir()
    recorder = [p["id"] for p in session.get("/api/processors")["processors"] if p["name"] == "Record Node"][0]
    session.set(recorder, "directory", str(tmp_path / "rec2"))
    session.acquire(second, BLOCKS)
    assert session.alive()
    assert session.python_status(second)["state"] == "ready"
    rec = recorded(tmp_path / "rec2")
    numbers = np.asarray(rec.continuous[0].sample_numbers, dtype=np.int64)
    stored = np.asarray(rec.continuous[0].samples)[:, :8].astype(np.float64)
    assert np.abs(stored - expected_steps(numbers, lambda uv: -2.0 * uv)).max() <= 1


def test_a_bad_python_home_is_explained_and_can_be_corrected_without_a_restart(tmp_path, new_gui, input_file):
    gui = new_gui()
    gui.start()
    (python,), _ = chain(gui, input_file, [write(tmp_path, "scale.py", SCALE_SCRIPT)], tmp_path / "rec")
    gui.set(python, "python_home", str(tmp_path / "no-such-env"))
    status = gui.python_status(python)
    assert status["state"] == "no_python"
    assert "no-such-env" in status["details"] and "does not exist" in status["details"]
    # The Live view button (here its HTTP command) needs a Python Home too, and says so.
    status = gui.python_command(python, "live_view")
    assert status["warning"].startswith("Live view: no Python Home is in use: ") and "no-such-env" in status["warning"]
    assert status["live"] == {"path": "", "error": "no Python", "names": [], "viewer": None}
    gui.set(python, "python_home", str(current_python_home()))
    status = gui.python_status(python)
    assert status["state"] == "ready" and status["warning"] == "", status
    # Once Python runs, another home needs a restart, and says so.
    gui.set(python, "python_home", str(tmp_path))
    assert "restart the GUI" in gui.python_status(python)["warning"]


def test_latency_for_384_channels(session, tmp_path, capsys):
    """Reports (does not assert) the GUI's own latency for the processor on 384 channels."""
    t = np.arange(RATE * 2)
    signal = 100.0 * np.sin(2 * np.pi * 10 * t / RATE)[:, None] * np.ones((1, 384))
    input_384 = next(write_recording(tmp_path / "in384", signal, RATE, BIT_VOLTS).rglob("structure.oebin"))
    template = Path(__file__).resolve().parents[1] / "templates" / "processor_template.py"
    (python,), _ = chain(session, input_384, [template], tmp_path / "rec")
    readings = []  # taken while acquiring
    session.acquire(python, BLOCKS, mode="ACQUIRE", then=lambda: readings.extend(
        [session.get("/api/latency"), session.python_status(python)]))
    latency, status = readings
    with capsys.disabled():
        for processor in latency["processors"]:
            print(f"\nGUI latency (ms), 384 channels, {processor['name']} ({processor['id']}): "
                  + ", ".join(f"{s['latency']:.2f}" for s in processor["streams"]))
        print(f"engine: p50 {status['p50_us']:.0f} us, p99 {status['p99_us']:.0f} us per "
              f"{status['buffer_us'] / 1000:.1f} ms buffer, {status['calls']} calls, {status['overruns']} over budget")
    assert status["state"] == "ready" and status["calls"] > 0


def test_a_chain_saved_with_the_published_plugin_loads_and_runs(tmp_path, new_gui, input_file):
    """The published plugin's parameter names, including its stream id in current_stream."""
    import xml.etree.ElementTree as ET

    tree = ET.parse(Path(__file__).parent / "data" / "chains" / "gui10_file_reader_python_record.xml")
    processors = {p.get("pluginName"): p for p in tree.iter("PROCESSOR")}
    reader = processors["File Reader"].find("PROCESSOR_PARAMETERS")
    reader.set("selected_file", str(input_file))
    reader.set("end_time", "00:00:02.000")
    python = processors["Python Processor"].find("PROCESSOR_PARAMETERS")
    assert python.get("current_stream") == "10000"  # a stream id, as the published plugin saved it
    python.set("python_home", str(current_python_home()))
    python.set("script_path", str(write(tmp_path, "scale.py", SCALE_SCRIPT)))
    (tmp_path / "rec").mkdir()
    processors["Record Node"].find("PROCESSOR_PARAMETERS").set("directory", str(tmp_path / "rec"))
    chain_file = tmp_path / "published_chain.xml"
    tree.write(chain_file, encoding="UTF-8", xml_declaration=True)

    gui = new_gui()
    gui.start(chain_file)
    node = int(processors["Python Processor"].get("nodeId"))
    status = gui.wait_while_loading(node)  # the chain names no mode: isolated, loading in its worker
    assert status["state"] == "ready" and status["mode"] == "isolated", status
    gui.set(node, "deadline_ms", 100.0)  # every sample is compared below (see chain())
    assert "the signal chain" in status["python_home"]
    gui.acquire(node, BLOCKS)
    rec = recorded(tmp_path / "rec")
    numbers = np.asarray(rec.continuous[0].sample_numbers, dtype=np.int64)
    stored = np.asarray(rec.continuous[0].samples)[:, :8].astype(np.float64)
    assert np.abs(stored - expected_steps(numbers, lambda uv: -2.0 * uv)).max() <= 1
    assert gui.alive()


def add_ttl_events(structure_oebin: Path, sample_numbers, states) -> None:
    """TTL events in the input recording, which the File Reader replays on its stream."""
    recording = structure_oebin.parent
    folder = "File_Reader-100.example_data/TTL/"
    (recording / "events" / folder).mkdir(parents=True)
    np.save(recording / "events" / folder / "sample_numbers.npy", np.asarray(sample_numbers, dtype=np.int64))
    np.save(recording / "events" / folder / "states.npy", np.asarray(states, dtype=np.int16))
    np.save(recording / "events" / folder / "timestamps.npy", np.asarray(sample_numbers) / RATE)
    np.save(recording / "events" / folder / "full_words.npy", np.zeros(len(states), dtype=np.uint64))
    oebin = json.loads(structure_oebin.read_text())
    oebin["events"] = [{"folder_name": folder, "channel_name": "TTL Input", "description": "TTL events",
                        "identifier": "genericevent.ttl", "sample_rate": float(RATE), "type": "int16",
                        "num_channels": 1, "source_processor": "File Reader", "stream_name": "example_data"}]
    structure_oebin.write_text(json.dumps(oebin, indent=2))


def test_every_callback_reaches_python_with_the_recording_folder(session, input_file, tmp_path):
    # Line 2 (states +-3, 1-based) on at 10000, off at 20000, on at 40000, in the file's own numbering.
    add_ttl_events(input_file, [10000, 20000, 40000], [3, -3, 3])
    script = tmp_path / "record_callbacks.py"  # logs every call to calls.jsonl beside itself
    shutil.copy(Path(__file__).parent / "scripts" / "record_callbacks.py", script)
    (python,), recorder = chain(session, input_file, [script], tmp_path / "rec")
    session.set(python, "execution", "in-process")  # the views on the GUI's buffer are checked below
    assert session.python_status(python)["mode"] == "in-process"
    session.acquire(python, BLOCKS)
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    names = [call["call"] for call in calls if call["call"] not in ("handle_ttl_event", "process")]
    assert names[0] == "__init__" and calls[0]["num_channels"] == 8 and calls[0]["sample_rate"] == RATE
    blocks = [call for call in calls if call["call"] == "process"]
    assert blocks and all(b["shape"][0] == 8 and b["dtype"] == "float32" and b["writeable"] for b in blocks)
    # The first block is a copy; then views on the GUI's buffer, whose blocks are shorter than it: strided.
    assert blocks[0]["base"] == "NoneType" and {b["base"] for b in blocks[1:]} == {"PyCapsule"}
    assert not any(b["c_contiguous"] for b in blocks[1:])
    assert names[-4:] == ["start_acquisition", "start_recording", "stop_recording", "stop_acquisition"]
    (session_dir,) = list((tmp_path / "rec").iterdir())
    started = [call for call in calls if call["call"] == "start_recording"][0]
    assert Path(started["recording_dir"]) == session_dir  # the folder Session() opens
    ttl = [(c["sample_number"], c["line"], bool(c["state"]), c["source_node"])
           for c in calls if c["call"] == "handle_ttl_event"]
    reader = [p["id"] for p in session.get("/api/processors")["processors"] if p["name"] == "File Reader"][0]
    assert ttl[:3] == [(10000, 2, True, reader), (20000, 2, False, reader), (40000, 2, True, reader)]


def test_kept_rows_and_fresh_data_on_the_guis_blocks(session, input_file, tmp_path):
    """Where the GUI differs from the host: its blocks are shorter than its buffers, so `data` is a
    strided view. Rows kept from `data` stay right from the first block, and `fresh_data = True`
    gives the published plugin's C-contiguous array that code reshaping `data` needs."""
    scripts = []
    for name in ("keeps_rows.py", "fresh_data_reshape.py"):
        shutil.copy(Path(__file__).parent / "scripts" / name, tmp_path / name)
        scripts.append(tmp_path / name)
    (keeps, fresh), _ = chain(session, input_file, scripts, tmp_path / "rec")
    for node in (keeps, fresh):  # in-process: isolated, every `data` is a fresh C-contiguous array anyway
        session.set(node, "execution", "in-process")
    session.acquire(fresh, BLOCKS)
    assert session.python_status(fresh)["state"] == "ready", session.python_status(fresh)
    assert "fresh copy" in session.python_status(keeps)["warning"]

    kept = json.loads((tmp_path / "kept.json").read_text())
    assert len(kept["same"]) >= BLOCKS and all(kept["same"])
    assert set(kept["lengths"]) <= {696, 697} and all(kept["contiguous"])  # copies, once kept data was seen
    rec = recorded(tmp_path / "rec")
    numbers = np.asarray(rec.continuous[0].sample_numbers, dtype=np.int64)
    stored = np.asarray(rec.continuous[0].samples)[:, :8].astype(np.float64)
    assert np.abs(stored - expected_steps(numbers, lambda uv: 2.0 * (uv + 1.95))).max() <= 1


def test_module_parameters_are_gui_parameters_saved_with_the_chain(new_gui, input_file, tmp_path):
    """A float, a bool and a choice declared by the module: listed and set over the HTTP API, a change
    shows in the recording from the sample it applies from, a bad value is refused and the old one
    stays, and the chain the GUI saves gives the values back to the module in a fresh GUI."""
    script = tmp_path / "gui_parameters.py"
    shutil.copy(Path(__file__).parent / "scripts" / "gui_parameters.py", script)
    session = new_gui(current_python_home())
    session.start()
    (python,), _ = chain(session, input_file, [script], tmp_path / "rec")
    listed = {p["name"]: p for p in session.get(f"/api/processors/{python}")["parameters"]}
    assert {"gain", "enabled", "mode"} <= set(listed) and listed["gain"]["value"] in ("1", "1.0")
    # The plugin's own parameters are the names a module may not declare (one list, the runtime's).
    assert set(listed) - {"gain", "enabled", "mode"} == set(RESERVED_NAMES)

    def change_gain():
        session.set(python, "gain", 3.0)
        session.wait_for_calls(python, session.python_status(python)["calls"] + 40)

    session.acquire(python, 40, then=change_gain)
    changes = [json.loads(line) for line in (tmp_path / "parameters.jsonl").read_text().splitlines()]
    (change,) = [c for c in changes if c["call"] == "parameter_changed"]
    assert (change["name"], change["value"]) == ("gain", 3.0)
    rec = recorded(tmp_path / "rec")
    numbers = np.asarray(rec.continuous[0].sample_numbers, dtype=np.int64)
    stored = np.asarray(rec.continuous[0].samples)[:, :8].astype(np.float64)
    gain = np.where(numbers >= change["from_sample"], 3.0, 1.0)
    assert (numbers < change["from_sample"]).sum() > 10 * 600 and (numbers >= change["from_sample"]).sum() > 10 * 600
    assert np.abs(stored - expected_steps(numbers, lambda uv: uv * gain[:, None])).max() <= 1

    # Refused: out of range, and a choice that is not one; the old values stay.
    session.set(python, "gain", 50.0)
    session.set(python, "mode", "loud")
    assert float(session.get(f"/api/processors/{python}/parameters/gain")["value"]) == 3.0
    assert session.get(f"/api/processors/{python}/parameters/mode")["value"] == "0"
    warning = session.python_status(python)["warning"]
    assert "mode: value str 'loud' is not allowed; one of scale, mute" in warning
    assert "gain: value float 50.0 is not allowed; a number from 0 to 10 x" in session.log_tail(200)
    session.set(python, "mode", "mute")
    session.set(python, "enabled", False)

    saved = tmp_path / "saved_chain.xml"
    session.put("/api/save", {"filepath": str(saved)})
    session.stop()
    # A value saved for a parameter the module no longer declares is reported, not a crash.
    text = saved.read_text()
    assert '<MODULE_PARAMETERS gain="3" enabled="false" mode="&quot;mute&quot;"/>' in text
    saved.write_text(text.replace('<MODULE_PARAMETERS ', '<MODULE_PARAMETERS volume="2" '))
    fresh = new_gui(current_python_home(), folder="fresh")
    fresh.start(saved)
    status = fresh.wait_while_loading(python)  # the chain names no mode: isolated, loading in its worker
    assert status["state"] == "ready"
    assert "a value was given for 'volume', which the module does not declare" in status["warning"]
    inits = [json.loads(line) for line in (tmp_path / "parameters.jsonl").read_text().splitlines()
             if json.loads(line)["call"] == "__init__"]
    assert inits[-1]["values"] == {"gain": 3.0, "enabled": False, "mode": "mute"}  # before __init__ returned
    assert {p["name"]: p["value"] for p in fresh.get(f"/api/processors/{python}")["parameters"]}["mode"] == "1"


SPIKE_EVERY = 937        # samples between the spikes on channel 0 of the spikes-in input
SPIKE_FIRST_PEAK = 500


def spiking_signal() -> np.ndarray:
    """Channel 0: silence and a negative triangular spike every SPIKE_EVERY samples, each deeper than
    the last (100 to 295 uV, then again); the other channels as input_signal()."""
    signal = input_signal()
    signal[:, 0] = 0.0
    shape = 1.0 - np.abs(np.arange(-4, 5)) / 5.0
    for index, peak in enumerate(range(SPIKE_FIRST_PEAK, SAMPLES - 8, SPIKE_EVERY)):
        signal[peak - 4:peak + 5, 0] = -(100.0 + 5.0 * (index % 40)) * shape
    return signal


def test_spikes_from_the_spike_detector_reach_python_as_the_published_plugin_passed_them(new_gui, tmp_path):
    """A chain file as the GUI saves it: File Reader -> Spike Detector (one single electrode on
    channel 1, threshold -50 uV) -> Python Processor -> Record Node."""
    import xml.etree.ElementTree as ET

    signal = spiking_signal()
    input_file = next(write_recording(tmp_path / "input", signal, RATE, BIT_VOLTS).rglob("structure.oebin"))
    script = tmp_path / "record_callbacks.py"
    shutil.copy(Path(__file__).parent / "scripts" / "record_callbacks.py", script)
    tree = ET.parse(Path(__file__).parent / "data" / "chains" / "gui10_file_reader_spike_detector_python_record.xml")
    processors = {p.get("pluginName"): p for p in tree.iter("PROCESSOR")}
    processors["File Reader"].find("PROCESSOR_PARAMETERS").set("selected_file", str(input_file))
    processors["Python Processor"].find("PROCESSOR_PARAMETERS").set("script_path", str(script))
    (tmp_path / "rec").mkdir()
    processors["Record Node"].find("PROCESSOR_PARAMETERS").set("directory", str(tmp_path / "rec"))
    chain_file = tmp_path / "spikes_chain.xml"
    tree.write(chain_file, encoding="UTF-8", xml_declaration=True)

    gui = new_gui(current_python_home())
    gui.start(chain_file)
    detector, python = (int(processors[name].get("nodeId")) for name in ("Spike Detector", "Python Processor"))
    assert gui.wait_while_loading(python)["state"] == "ready"
    gui.acquire(python, BLOCKS)
    assert gui.python_status(python)["state"] == "ready"

    spikes = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    spikes = [call for call in spikes if call["call"] == "handle_spike"]
    assert len(spikes) >= 50
    for spike in spikes:  # the published plugin's types: int, str, int, int, int, int, float32 array
        assert spike["types"] == {"source_node": "int", "electrode_name": "str", "num_channels": "int",
                                  "num_samples": "int", "sample_number": "int", "sorted_id": "int"}
        assert (spike["data_type"], spike["dtype"], spike["shape"]) == ("ndarray", "float32", [1, 40])
        assert (spike["source_node"], spike["electrode_name"], spike["sorted_id"]) == (detector, "Electrode 1", 0)
        # The detector's waveform: 9 samples before the spike's sample number and 31 from it.
        number = spike["sample_number"]
        expected = np.rint(signal[number - 9:number + 31, 0] / BIT_VOLTS) * BIT_VOLTS
        assert np.allclose(spike["waveform"][0], expected, atol=1e-3), number

    # Python got what the detector sent (as the Record Node recorded it), and every spike of the file
    # inside the recording was detected once (the detector stamps its peak, or a few samples before it
    # where its peak search meets a block's end).
    rec = recorded(tmp_path / "rec")
    numbers = np.asarray(rec.continuous[0].sample_numbers, dtype=np.int64)
    (detected,) = [s for s in rec.spikes if spike_channel_name(s) == "Electrode 1"]
    by_number = {spike["sample_number"]: np.asarray(spike["waveform"]) for spike in spikes}
    detected_numbers = interior(np.asarray(detected.sample_numbers, dtype=np.int64), numbers)
    assert sorted(detected_numbers) == list(interior(np.array(sorted(by_number)), numbers))
    for number, waveform in zip(np.asarray(detected.sample_numbers), np.asarray(detected.waveforms)):
        if number in by_number:
            assert np.allclose(by_number[number], waveform, atol=1e-3)
    next_peak = SPIKE_FIRST_PEAK + -(-(detected_numbers - SPIKE_FIRST_PEAK) // SPIKE_EVERY) * SPIKE_EVERY
    assert (next_peak - detected_numbers <= 8).all()
    window = lambda peaks: list(peaks[(peaks >= numbers[0] + EDGE_MARGIN + 8) & (peaks <= numbers[-1] - EDGE_MARGIN)])
    assert sorted(window(next_peak)) == window(numbers[(numbers - SPIKE_FIRST_PEAK) % SPIKE_EVERY == 0])


def test_setup_sets_the_python_home_live_in_the_running_gui(session, input_file, tmp_path):
    """oe_bootstrap.gui_api, which `oe-pyproc setup` uses while the GUI runs, against the real GUI."""
    from oe_bootstrap.gui_api import python_processors, running_gui, set_python_home_live

    (python,), _ = chain(session, input_file, [write(tmp_path, "scale.py", SCALE_SCRIPT)], tmp_path / "rec")
    assert running_gui().mode == "IDLE"
    home = str(current_python_home())
    assert set_python_home_live(37497, home) == [python]
    assert [p.parameters["python_home"] for p in python_processors()] == [home]
    status = session.python_status(python)
    assert status["state"] == "ready" and status["warning"] == ""  # the same home: nothing to restart


# --- live values: publish() in the GUI, read by oe_pyproc.live, and the Live view command ---

def gui_ring(node_id: int):
    """The live ring of the GUI's Python Processor NODE_ID, found as any client finds it."""
    found = [instance for instance in live.instances()
             if instance.program == "Open Ephys GUI" and instance.node_id == node_id]
    assert len(found) == 1, live.instances()
    return found[0]


def test_published_values_reach_a_live_reader_while_the_gui_acquires(new_gui, input_file, tmp_path, monkeypatch):
    """A module publishes "calls" (1, 2, 3...), "samples" and "mean0" every buffer; a Reader that keeps
    up while the GUI acquires gets every value, stamped with its buffer's first sample number, and
    the status's live names count them."""
    live_dir = tmp_path / "live"
    monkeypatch.setenv("OE_PYPROC_LIVE_DIR", str(live_dir))  # for oe_pyproc.live here; the GUI gets it too
    gui = new_gui(current_python_home())
    gui.start(extra_env={"OE_PYPROC_LIVE_DIR": str(live_dir)})
    script = tmp_path / "publish_counter.py"
    shutil.copy(Path(__file__).parent / "scripts" / "publish_counter.py", script)
    (python,), _ = chain(gui, input_file, [script], tmp_path / "rec")
    status = gui.python_status(python)
    assert status["state"] == "ready", status
    assert status["live"] == {"path": status["live"]["path"], "error": "", "names": [], "viewer": None}

    ring = gui_ring(python)  # the instance exists once script_path is set: no waiting
    assert ring.path == Path(status["live"]["path"]) and ring.path.parent == live_dir
    assert ring.pid in workers_of(gui.process.pid)  # isolated: the module's worker writes the ring
    assert ring.meta()["name"] == "Python Processor" and ring.script == str(script)
    reader = ring.reader()
    frames = []

    def calls_read() -> int:
        frames.extend(reader.read())
        return sum(frame.name == "calls" for frame in frames)

    def keep_up() -> None:
        # While the GUI acquires: read as the values come, until 100 buffers; the engine had
        # counted at least those when the status is asked next.
        wait_until(lambda: calls_read() >= 100, lambda: f"100 buffers published, read {calls_read()}", timeout=120)
        read_now = calls_read()
        names = {entry["name"]: entry for entry in gui.python_status(python)["live"]["names"]}
        assert names["calls"]["count"] >= read_now and names["calls"]["kind"] == "scalar"

    gui.acquire(python, 20, mode="ACQUIRE", then=keep_up)

    def settled():
        """The status once every buffer processed is read: its calls, the ring's counts and the last
        counter agree (a block still in flight when acquisition stopped makes a second look)."""
        read = calls_read()
        now = gui.python_status(python)
        counts = {entry["name"]: entry["count"] for entry in now["live"]["names"]}
        return now if now["calls"] == read == counts.get("calls") == counts.get("samples") == counts.get("mean0") else None

    final = wait_until(settled, lambda: f"status {gui.python_status(python)} after reading {calls_read()}", timeout=30)
    assert reader.lost == 0
    assert {frame.kind for frame in frames} == {"scalar"}
    assert [frame.name for frame in frames] == ["calls", "samples", "mean0"] * final["calls"]
    calls, samples, means = (frames[i::3] for i in range(3))
    assert [frame.value for frame in calls] == list(range(1, final["calls"] + 1))  # none lost, none doubled
    numbers = np.array([frame.sample_number for frame in calls])
    assert all(a.sample_number == b.sample_number == c.sample_number for a, b, c in zip(calls, samples, means))
    lengths = np.array([frame.value for frame in samples], dtype=np.int64)
    assert (lengths > 0).all()
    assert (np.diff(numbers) == lengths[:-1]).all()  # each buffer starts where the one before ended
    steps = np.rint(input_signal()[:, 0] / BIT_VOLTS) * BIT_VOLTS
    expected = [steps[start:start + length].mean() for start, length in zip(numbers, lengths)]
    assert np.allclose([frame.value for frame in means], expected, atol=1e-2)
    assert sorted((entry["name"], entry["kind"]) for entry in final["live"]["names"]) == [
        ("calls", "scalar"), ("mean0", "scalar"), ("samples", "scalar")]


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the viewer's server does
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def running(pid: int) -> bool:
    """True while PID runs (Linux; a zombie has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def viewers_started_by(gui: GuiSession) -> set:
    """The running `oe_pyproc view` processes the GUI started (Linux's /proc)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            arguments = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if gui.process is not None and parent == gui.process.pid and b"oe_pyproc" in arguments and b"view" in arguments:
            pids.add(int(stat.parent.name))
    return pids


def stop_viewers(gui: GuiSession, viewer_json: Path) -> None:
    """Ends the viewer viewer.json names and any `oe_pyproc view` the GUI started, even one still
    starting: nothing of the test outlives it."""
    pids = viewers_started_by(gui)
    if read_json(viewer_json):
        pids.add(int(read_json(viewer_json)["pid"]))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if running(pid):
            os.kill(pid, signal.SIGKILL)


VIEWER_PORT = 5077  # `oe-pyproc view`'s default, which the Live view button uses


@pytest.mark.skipif(port_in_use(VIEWER_PORT), reason=f"port {VIEWER_PORT} (the live viewer's) is in use here")
def test_the_live_view_command_starts_the_viewer_and_opens_the_browser(new_gui, input_file, tmp_path):
    """The editor's Live view button, through the HTTP API: the Python Home's `oe_pyproc view --open`
    starts the viewer (viewer.json, its page answers, the status shows its URL) and opens the browser
    (BROWSER: a script that notes the URL); pressed again, it only opens the browser."""
    live_dir, opened = tmp_path / "live", tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {shlex.quote(str(opened))}\n')
    browser.chmod(0o755)
    gui = new_gui(current_python_home())
    gui.start(extra_env={"OE_PYPROC_LIVE_DIR": str(live_dir), "BROWSER": str(browser)})
    script = tmp_path / "publish_counter.py"
    shutil.copy(Path(__file__).parent / "scripts" / "publish_counter.py", script)
    (python,), _ = chain(gui, input_file, [script], tmp_path / "rec")
    assert gui.python_status(python)["live"]["viewer"] is None
    viewer_json, viewer_log = live_dir / "viewer.json", live_dir / "viewer.log"

    def problem() -> str:
        log = viewer_log.read_text(errors="replace")[-2000:] if viewer_log.exists() else "(no viewer.log)"
        return f"status {gui.python_status(python)}; viewer.log: {log}"

    def browser_opened():
        return opened.read_text().split() if opened.exists() else []

    try:
        status = gui.python_command(python, "live_view")
        assert status["state"] == "ready" and status["warning"] == "", status
        found = wait_until(lambda: read_json(viewer_json), lambda: "viewer.json: " + problem(), timeout=90)
        url = found["url"]
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=30) as page:
            assert page.status == 200 and b"bokeh" in page.read().lower()
        wait_until(lambda: gui.python_status(python)["live"]["viewer"] == url, problem, timeout=30)
        wait_until(lambda: browser_opened() == [url], lambda: f"the browser opened {browser_opened()}: {problem()}", timeout=30)

        # Pressed again while the viewer runs: the browser opens it again, and that second
        # `view --open` ends (with status 0: no warning); no second viewer.
        gui.python_command(python, "live_view")
        wait_until(lambda: browser_opened() == [url, url] and viewers_started_by(gui) == {found["pid"]},
                   lambda: f"the browser opened {browser_opened()}, viewers {viewers_started_by(gui)}: {problem()}",
                   timeout=60)
        assert read_json(viewer_json)["pid"] == found["pid"]
        status = gui.python_status(python)
        assert status["warning"] == "" and status["live"]["viewer"] == url, status
    finally:
        stop_viewers(gui, viewer_json)
    # The plugin reaps what it started: the status shows no viewer, and no failure (SIGTERM ends the
    # viewer with status 0).
    now = wait_until(lambda: (lambda s: s if s["live"]["viewer"] is None else None)(gui.python_status(python)), problem, timeout=30)
    assert now["warning"] == "", now
    assert not viewer_json.exists()


BAND_POWER = Path(__file__).resolve().parents[1] / "templates" / "band_power.py"


def stream_channels(gui: GuiSession, node_id: int) -> int:
    return gui.get(f"/api/processors/{node_id}")["streams"][0]["channel_count"]


@pytest.mark.parametrize("execution", ["isolated", "in-process"])
def test_derived_channels_are_recorded_and_shown_by_the_lfp_viewer(new_gui, input_file, tmp_path, execution):
    """File Reader -> Python Processor (the band_power template) -> LFP Viewer -> Record Node: the module's
    envelope and threshold are channels of the stream downstream, recorded sample-aligned with the data,
    equal (within the int16 step) to the template run offline over the recorded input."""
    from oe_pyprocessor.testing import run_module

    script = tmp_path / "band_power.py"
    shutil.copy(BAND_POWER, script)
    gui = new_gui(current_python_home())
    gui.start()
    reader = gui.add("File Reader")
    gui.set(reader, "selected_file", str(input_file))
    python = gui.add("Python Processor", reader)
    gui.set(python, "execution", execution)
    gui.set(python, "script_path", str(script))
    gui.set(python, "deadline_ms", 100.0)
    # The chain follows the module's declarations on the plugin's next status tick; processors go after.
    wait_until(lambda: stream_channels(gui, python) == 8 + 2, "the derived channels in the processor's stream", 20)
    viewer = gui.add("LFP Viewer", python)
    recorder = gui.add("Record Node", viewer)
    (tmp_path / "rec").mkdir()
    gui.set(recorder, "directory", str(tmp_path / "rec"))
    wait_until(lambda: stream_channels(gui, recorder) == 8 + 2, "the derived channels to reach the Record Node", 20)
    assert stream_channels(gui, viewer) == 8 + 2 and stream_channels(gui, reader) == 8
    gui.acquire(python, BLOCKS)
    assert gui.python_status(python)["state"] == "ready"

    rec = recorded(tmp_path / "rec")
    (oebin,) = (tmp_path / "rec").rglob("structure.oebin")
    channels = json.loads(oebin.read_text())["continuous"][0]["channels"]
    assert [c["channel_name"] for c in channels[8:]] == ["envelope", "threshold"]
    assert [(c["units"], c["bit_volts"]) for c in channels[8:]] == [("uV", pytest.approx(BIT_VOLTS))] * 2
    # The chain was updated for them after the processor had made its spike channel: still one.
    spike_channels = json.loads(oebin.read_text())["spikes"]
    assert [(c["name"], c["source_processor_id"]) for c in spike_channels] == [("Python Spikes", python)], spike_channels
    numbers = np.asarray(rec.continuous[0].sample_numbers, dtype=np.int64)
    samples = rec.continuous[0].get_samples(0, len(numbers))
    # The module's filters started with acquisition, before the first recorded sample: compare from
    # where that start no longer shows (the 2 ms envelope and the band-pass settle within 30 ms).
    offline = run_module(BAND_POWER, samples[:, :8].T, RATE, block_size=697)
    settled = slice(3000, None)
    assert np.abs(samples[settled, 8] - offline.derived["envelope"][settled]).max() <= BIT_VOLTS / 2 + 1e-6
    assert np.allclose(samples[:, 9], 20.0, atol=BIT_VOLTS / 2 + 1e-6)
    assert samples[:, 8].max() > 100  # each edge of the square wave is a burst in the band
    # A saved chain names them, so it loads with them before its module has.
    saved = tmp_path / "saved.xml"
    gui.put("/api/save", {"filepath": str(saved)})
    assert '<DERIVED_CHANNEL name="envelope" unit="uV"' in saved.read_text()
    # A reload that declares another channel updates the chain.
    script.write_text(script.read_text().replace(
        '    derived_channels = [\n', '    derived_channels = [\n        oe.Derived("extra", unit="mV"),\n'))
    gui.python_command(python, "reload")
    wait_until(lambda: stream_channels(gui, recorder) == 8 + 3, "the reloaded module's channels in the chain", 20)
