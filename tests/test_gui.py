"""The plugin in the real Open Ephys GUI, headless, driven through its HTTP API: File Reader ->
Python Processor -> Record Node. Skipped unless OE_GUI_EXECUTABLE names a built GUI (plugin-GUI
v1.0.1, Plugin API 10); the plugin is built against that GUI's checkout (or OE_PYPROC_PLUGIN).

The recording is compared with the input transformed offline, sample by sample."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import spike_channel_name, write_recording
from gui_session import GuiSession, build_plugin
from oe_pyproc.host import current_python_home

GUI = os.environ.get("OE_GUI_EXECUTABLE")
pytestmark = pytest.mark.skipif(not GUI, reason="set OE_GUI_EXECUTABLE to a built Open Ephys GUI 1.0 "
                                                "(plugin-GUI v1.0.1) to run the GUI tests")

RATE = 30000
SAMPLES = 60000          # 2 s; the File Reader loops it seamlessly (a multiple of the period)
PERIOD = 3000            # channel 0 is a square wave, rising where sample % PERIOD == PERIOD // 2
BIT_VOLTS = 0.1
HIGH_UV = 1000.0

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


def input_signal(channels: int = 8) -> np.ndarray:
    """samples x channels in microvolts: the square wave on channel 0, sines elsewhere."""
    t = np.arange(SAMPLES)
    signal = np.empty((SAMPLES, channels))
    signal[:, 0] = np.where(t % PERIOD >= PERIOD // 2, HIGH_UV, -HIGH_UV)
    for channel in range(1, channels):
        signal[:, channel] = 200.0 * np.sin(2 * np.pi * (channel * 7) * t / SAMPLES)
    return signal


@pytest.fixture(scope="module")
def plugin() -> Path:
    return build_plugin(Path(GUI))


@pytest.fixture
def session(tmp_path, plugin):
    gui = GuiSession(Path(GUI), tmp_path)
    gui.install(plugin, current_python_home())  # the Python Home comes from the settings file alone
    gui.start()
    yield gui
    gui.stop()


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
    return pythons, recorder


def recorded(record_dir: Path):
    from open_ephys.analysis import Session

    (session_dir,) = list(record_dir.iterdir())  # the Record Node writes into a dated folder
    return Session(str(session_dir)).recordnodes[0].recordings[0]


def expected_steps(sample_numbers: np.ndarray, transform) -> np.ndarray:
    steps = np.rint(input_signal() / BIT_VOLTS)
    return np.rint(transform(steps[sample_numbers % SAMPLES] * BIT_VOLTS) / BIT_VOLTS)


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

    session.record(3.0)
    rec = recorded(tmp_path / "rec")
    continuous = rec.continuous[0]
    sample_numbers = np.asarray(continuous.sample_numbers, dtype=np.int64)
    assert len(sample_numbers) > RATE  # at least a second was recorded
    stored = np.asarray(continuous.samples)[:, :8].astype(np.float64)
    assert np.abs(stored - expected_steps(sample_numbers, lambda uv: -2.0 * uv)).max() <= 1

    # The File Reader restarts its sample numbers when it loops the file: compare as multisets.
    is_edge = (sample_numbers % PERIOD) == PERIOD // 2
    events = rec.events[(rec.events.processor_id == python) & (rec.events.line == 4)]  # line 3, 1-based
    assert list(events.state) == [1] * int(is_edge.sum())
    assert sorted(events.sample_number) == sorted(sample_numbers[is_edge])

    # Python numbered its spikes by counting samples since acquisition started, as recorded.
    spikes = [s for s in rec.spikes if spike_channel_name(s) == "Python Spikes"]
    assert len(spikes) == 1
    assert sorted(np.asarray(spikes[0].sample_numbers)) == list(np.flatnonzero(is_edge))
    waveforms = np.asarray(spikes[0].waveforms)
    assert waveforms.shape == (int(is_edge.sum()), 1, 40)
    assert np.allclose(waveforms[:, 0, :], np.arange(len(waveforms))[:, None] % 100, atol=1e-3)
    assert list(np.asarray(spikes[0].clusters)) == [1 + i % 5 for i in range(len(waveforms))]
    assert session.alive()


def test_two_instances_and_a_raising_script_leave_the_gui_running(session, input_file, tmp_path):
    raising = write(tmp_path, "raises.py", RAISING_SCRIPT)
    scale = write(tmp_path, "scale.py", SCALE_SCRIPT)
    (first, second), _ = chain(session, input_file, [raising, scale], tmp_path / "rec")
    session.record(2.5)
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
    session.record(2.0)
    assert session.alive()
    assert session.python_status(second)["state"] == "ready"
    rec = recorded(tmp_path / "rec2")
    numbers = np.asarray(rec.continuous[0].sample_numbers, dtype=np.int64)
    stored = np.asarray(rec.continuous[0].samples)[:, :8].astype(np.float64)
    assert np.abs(stored - expected_steps(numbers, lambda uv: -2.0 * uv)).max() <= 1


def test_a_bad_python_home_is_explained_and_can_be_corrected_without_a_restart(tmp_path, plugin, input_file):
    gui = GuiSession(Path(GUI), tmp_path)
    gui.install(plugin, None)
    try:
        gui.start()
        (python,), _ = chain(gui, input_file, [write(tmp_path, "scale.py", SCALE_SCRIPT)], tmp_path / "rec")
        gui.set(python, "python_home", str(tmp_path / "no-such-env"))
        status = gui.python_status(python)
        assert status["state"] == "no_python"
        assert "no-such-env" in status["details"] and "does not exist" in status["details"]
        gui.set(python, "python_home", str(current_python_home()))
        assert gui.python_status(python)["state"] == "ready"
        # Once Python runs, another home needs a restart, and says so.
        gui.set(python, "python_home", str(tmp_path))
        assert "restart the GUI" in gui.python_status(python)["warning"]
    finally:
        gui.stop()


def test_latency_for_384_channels(session, tmp_path, capsys):
    """Reports (does not assert) the GUI's own latency for the processor on 384 channels."""
    t = np.arange(RATE * 2)
    signal = 100.0 * np.sin(2 * np.pi * 10 * t / RATE)[:, None] * np.ones((1, 384))
    input_384 = next(write_recording(tmp_path / "in384", signal, RATE, BIT_VOLTS).rglob("structure.oebin"))
    template = Path(__file__).resolve().parents[1] / "templates" / "processor_template.py"
    (python,), _ = chain(session, input_384, [template], tmp_path / "rec")
    session.put("/api/status", {"mode": "ACQUIRE"})
    time.sleep(4.0)
    latency = session.get("/api/latency")
    status = session.python_status(python)
    session.put("/api/status", {"mode": "IDLE"})
    with capsys.disabled():
        for processor in latency["processors"]:
            print(f"\nGUI latency (ms), 384 channels, {processor['name']} ({processor['id']}): "
                  + ", ".join(f"{s['latency']:.2f}" for s in processor["streams"]))
        print(f"engine: p50 {status['p50_us']:.0f} us, p99 {status['p99_us']:.0f} us per "
              f"{status['buffer_us'] / 1000:.1f} ms buffer, {status['calls']} calls, {status['overruns']} over budget")
    assert status["state"] == "ready" and status["calls"] > 0


def test_a_chain_saved_with_the_published_plugin_loads_and_runs(tmp_path, plugin, input_file):
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

    gui = GuiSession(Path(GUI), tmp_path)
    gui.install(plugin, None)
    try:
        gui.start(chain_file)
        node = int(processors["Python Processor"].get("nodeId"))
        status = gui.python_status(node)
        assert status["state"] == "ready", status
        assert "the signal chain" in status["python_home"]
        gui.record(2.0)
        rec = recorded(tmp_path / "rec")
        numbers = np.asarray(rec.continuous[0].sample_numbers, dtype=np.int64)
        stored = np.asarray(rec.continuous[0].samples)[:, :8].astype(np.float64)
        assert np.abs(stored - expected_steps(numbers, lambda uv: -2.0 * uv)).max() <= 1
        assert gui.alive()
    finally:
        gui.stop()


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
    session.record(2.5)
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    names = [call["call"] for call in calls if call["call"] not in ("handle_ttl_event", "process")]
    assert names[0] == "__init__" and calls[0]["num_channels"] == 8 and calls[0]["sample_rate"] == RATE
    blocks = [call for call in calls if call["call"] == "process"]
    assert blocks and all(b["shape"][0] == 8 and b["dtype"] == "float32" and b["writeable"] for b in blocks)
    assert names[-4:] == ["start_acquisition", "start_recording", "stop_recording", "stop_acquisition"]
    (session_dir,) = list((tmp_path / "rec").iterdir())
    started = [call for call in calls if call["call"] == "start_recording"][0]
    assert Path(started["recording_dir"]) == session_dir  # the folder Session() opens
    ttl = [(c["sample_number"], c["line"], bool(c["state"]), c["source_node"])
           for c in calls if c["call"] == "handle_ttl_event"]
    reader = [p["id"] for p in session.get("/api/processors")["processors"] if p["name"] == "File Reader"][0]
    assert ttl[:3] == [(10000, 2, True, reader), (20000, 2, False, reader), (40000, 2, True, reader)]


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
