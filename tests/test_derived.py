"""Derived channels (docs/derived.md): continuous channels a module adds to its stream, recorded with the data.

Through the real pyproc-host in both execution modes, the stand-in and `check`; tests/test_gui.py runs the
same template in the real GUI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import BIT_VOLTS, recording, write_recording
from oe_pyproc.contract import FAIL, check_script
from oe_pyprocessor.testing import run_module

TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "band_power.py"
SAMPLE_RATE = 30000.0


def oebin_channels(output_dir: Path) -> list:
    (oebin,) = output_dir.rglob("structure.oebin")
    return json.loads(oebin.read_text())["continuous"][0]["channels"]


def spiky_input(tmp_path: Path) -> Path:
    """4 channels, 1 s: noise and a spike train on channel 1 (the envelope crosses the threshold)."""
    rng = np.random.default_rng(7)
    samples = rng.normal(0.0, 8.0, size=(30000, 4))
    for peak in range(700, 30000 - 20, 2113):
        samples[peak - 5:peak + 10, 1] += -140.0 * np.hanning(15)
    return write_recording(tmp_path / "input", samples, SAMPLE_RATE)


def test_the_template_records_its_envelope_and_threshold_as_the_offline_computation_gives_them(
        pyhost_each_mode, tmp_path):
    source = spiky_input(tmp_path)
    result = pyhost_each_mode.run(TEMPLATE, input_source=str(source), extra=["--param", "channel=1"])
    assert result.returncode == 0, result.stderr
    (instance,) = result.summary["instances"]
    assert instance["derived"] == [{"name": "envelope", "unit": "uV", "bit_volts": BIT_VOLTS},
                                   {"name": "threshold", "unit": "uV", "bit_volts": BIT_VOLTS}]
    channels = oebin_channels(result.output_dir)
    assert [c["channel_name"] for c in channels] == ["CH1", "CH2", "CH3", "CH4", "envelope", "threshold"]
    assert [c["identifier"] for c in channels[4:]] == ["dataderived.python.envelope", "dataderived.python.threshold"]
    assert [c["units"] for c in channels[4:]] == ["uV", "uV"] and channels[4]["bit_volts"] == BIT_VOLTS

    continuous = recording(result.output_dir).continuous[0]
    recorded = continuous.get_samples(0, len(continuous.sample_numbers))
    inputs = recorded[:, :4].T  # the recorded input is exactly what the module saw (int16 steps in, out)
    offline = run_module(TEMPLATE, inputs, SAMPLE_RATE, block_size=1000, params={"channel": 1})
    envelope, threshold = recorded[:, 4], recorded[:, 5]
    assert np.abs(envelope - offline.derived["envelope"]).max() <= BIT_VOLTS / 2 + 1e-6
    assert np.abs(threshold - 20.0).max() <= BIT_VOLTS / 2 + 1e-6
    assert envelope.max() > 30 and np.median(envelope) < 10  # the spikes' band power stands out
    # Its events are where the envelope crosses the threshold, as offline.
    events = recording(result.output_dir).events
    mine = events[events.processor_id == instance["node_id"]]
    assert list(mine.sample_number[mine.state == 1]) == [e.sample_number for e in offline.events if e.state]
    assert len(offline.events) >= 20


def test_both_modes_record_the_same_derived_channels(python_home, tmp_path):
    from conftest import Host

    source = spiky_input(tmp_path)
    recorded = {}
    for mode in ("in-process", "isolated"):
        result = Host(python_home, tmp_path / mode, mode).run(TEMPLATE, input_source=str(source))
        assert result.returncode == 0, result.stderr
        recorded[mode] = np.asarray(recording(result.output_dir).continuous[0].samples)
    assert recorded["in-process"].shape == (30000, 6)
    assert np.array_equal(recorded["in-process"], recorded["isolated"])


ONE_PER_CHANNEL = """
import oe_pyprocessor as oe


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.derived_channels = [oe.Derived("neg_%d" % c, unit="uV", bit_volts=0.5) for c in range(num_channels)]

    def process(self, data):
        for c, row in enumerate(data):
            self.processor.derived["neg_%d" % c][:] = -row
        assert self.processor.derived.neg_0.shape == (data.shape[1],)
"""


def test_one_derived_channel_per_input_channel_declared_in_init(pyhost_each_mode):
    result = pyhost_each_mode.run(pyhost_each_mode.script("per_channel.py", ONE_PER_CHANNEL))
    assert result.returncode == 0, result.stderr
    names = [c["channel_name"] for c in oebin_channels(result.output_dir)]
    assert names[8:] == ["neg_%d" % c for c in range(8)]
    stored = np.asarray(recording(result.output_dir).continuous[0].samples).astype(np.float64)
    microvolts = stored[:, :8] * BIT_VOLTS
    assert np.abs(stored[:, 8:] * 0.5 + microvolts).max() <= 0.25 + 1e-9  # one step of 0.5 uV, rounded


# A module that writes 7.0 into its derived channel each buffer, and on its 5th, after writing, misbehaves.
SEVEN_THEN = """
import time

import oe_pyprocessor as oe


class PyProcessor:
    derived_channels = [oe.Derived("seven")]

    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.calls = 0

    def process(self, data):
        self.calls += 1
        self.processor.derived["seven"][:] = 7.0
        if self.calls == 5:
            MISBEHAVIOUR
"""


def test_an_errored_module_leaves_its_derived_channels_at_zero_never_at_stale_values(pyhost_each_mode):
    source = SEVEN_THEN.replace("MISBEHAVIOUR", 'raise RuntimeError("fails after writing")')
    result = pyhost_each_mode.run(pyhost_each_mode.script("fails.py", source))
    assert result.returncode == 1 and "fails after writing" in result.stderr
    stored = np.asarray(recording(result.output_dir).continuous[0].samples)[:, 8] * BIT_VOLTS
    assert np.allclose(stored[:4000], 7.0, atol=BIT_VOLTS)  # blocks of 1000: four good buffers
    assert np.all(stored[4000:] == 0)


def test_a_late_buffer_has_zero_derived_values_and_the_next_ones_the_modules(pyhost):
    pyhost.mode = "isolated"
    result = pyhost.run(pyhost.script("late.py", SEVEN_THEN.replace("MISBEHAVIOUR", "time.sleep(0.5)")), extra=["--deadline-ms", "100", "--realtime"],
                        input_source="synthetic:channels=8,rate=30000,seconds=1,block=1000")
    assert result.returncode == 0, result.stderr
    (instance,) = result.summary["instances"]
    late = instance["late"]
    assert late >= 1
    stored = np.asarray(recording(result.output_dir).continuous[0].samples)[:, 8] * BIT_VOLTS
    per_buffer = stored.reshape(30, 1000)
    zero = [b for b in range(30) if np.all(per_buffer[b] == 0)]
    seven = [b for b in range(30) if np.allclose(per_buffer[b], 7.0, atol=BIT_VOLTS)]
    assert zero[0] == 4 and len(zero) == late and sorted(zero + seven) == list(range(30))
    assert seven[-1] == 29 and len(seven) >= 10  # once free again, its values: blocks come every 33 ms


@pytest.mark.parametrize("declaration, message", [
    ('[oe.Derived("a"), oe.Derived("a")]', "derived channel 'a' is declared twice"),
    ('[oe.Derived("CH2")]', "derived channel 'CH2' has the name of one of the stream's channels"),
    ('[oe.Derived("a", bit_volts=0)]', "derived channel 'a': bit_volts must be a positive number"),
    ('[oe.Derived("")]', "a derived channel's name must be a non-empty str"),
    ('oe.Derived("a")', "PyProcessor.derived_channels must be a list of oe_pyprocessor.Derived"),
    ('["a"]', "PyProcessor.derived_channels holds str 'a'"),
])
def test_a_declaration_that_cannot_be_used_errors_the_module_naming_it(pyhost_each_mode, declaration, message):
    source = ("import oe_pyprocessor as oe\n\n\nclass PyProcessor:\n"
              "    def __init__(self, processor, num_channels, sample_rate):\n"
              f"        self.derived_channels = {declaration}\n\n"
              "    def process(self, data):\n        pass\n")
    result = pyhost_each_mode.run(pyhost_each_mode.script("bad.py", source))
    assert result.returncode == 1
    (instance,) = result.summary["instances"]
    # Raised by Derived() in __init__ (the traceback has the line), or when the engine reads the list.
    assert instance["state"] == "errored" and message in instance["error"] and instance["derived"] == []


UNDECLARED = """
class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor

    def process(self, data):
        assert len(self.processor.derived) == 0
        self.processor.derived["power"][:] = 1.0
"""


def test_writing_an_undeclared_derived_channel_raises_naming_it(pyhost_each_mode):
    result = pyhost_each_mode.run(pyhost_each_mode.script("undeclared.py", UNDECLARED))
    assert result.returncode == 1
    assert "no derived channel 'power'; declared: none (PyProcessor.derived_channels)" in result.summary["instances"][0]["error"]


def test_modules_without_derived_channels_record_the_stream_alone(pyhost):
    result = pyhost.run(pyhost.script("pass.py", "class PyProcessor:\n    def __init__(self, p, n, r):\n        pass\n\n"
                                                 "    def process(self, data):\n        pass\n"))
    assert result.returncode == 0 and result.summary["instances"][0]["derived"] == []
    assert len(oebin_channels(result.output_dir)) == 8


def test_a_second_module_sees_the_first_ones_derived_channels_as_input_channels(pyhost_each_mode):
    first = pyhost_each_mode.script("per_channel.py", ONE_PER_CHANNEL)
    second = pyhost_each_mode.script("counts.py", "import oe_pyprocessor as oe\n\n\nclass PyProcessor:\n"
                                     "    derived_channels = [oe.Derived('count')]\n\n"
                                     "    def __init__(self, processor, num_channels, sample_rate):\n"
                                     "        self.processor, self.n = processor, num_channels\n\n"
                                     "    def process(self, data):\n        self.processor.derived.count[:] = data.shape[0]\n")
    result = pyhost_each_mode.run(first, second)
    assert result.returncode == 0, result.stderr
    stored = np.asarray(recording(result.output_dir).continuous[0].samples)
    assert stored.shape[1] == 8 + 8 + 1 and np.all(stored[:, 16] * BIT_VOLTS == pytest.approx(16, abs=BIT_VOLTS))


def test_check_names_the_line_of_a_bad_declaration(tmp_path):
    script = tmp_path / "bad.py"
    script.write_text("import oe_pyprocessor as oe\n\n\nclass PyProcessor:\n    derived_channels = [\n"
                      "        oe.Derived('power', unit='uV^2'),\n        oe.Derived('power'),\n"
                      "        oe.Derived('gain', bit_volts=-1),\n    ]\n\n"
                      "    def __init__(self, processor, num_channels, sample_rate):\n        pass\n\n"
                      "    def process(self, data):\n        pass\n")
    failures = [(f.line, f.message) for f in check_script(script, run=False) if f.status == FAIL]
    assert failures == [(7, "derived channel 'power' is declared twice (first at line 6)"),
                        (8, "Derived(...): derived channel 'gain': bit_volts must be a positive number (what one "
                            "int16 step of the recording is worth), got int -1")]


def test_the_stand_in_gives_each_derived_channel_over_the_whole_run():
    data = np.arange(4 * 2500, dtype=np.float32).reshape(4, 2500)
    result = run_module(ONE_PER_CHANNEL_CLASS(), data, SAMPLE_RATE, block_size=1000)
    assert list(result.derived) == ["neg_0", "neg_1", "neg_2", "neg_3"]
    assert np.array_equal(result.derived["neg_2"], -data[2])
    kept = run_module(Path(__file__).parent / "scripts" / "writes_derived.py", data, SAMPLE_RATE, block_size=1000)
    assert np.array_equal(kept.derived["first"], data[0]) and np.all(kept.derived["second"] == 1.5)
    with pytest.raises(ValueError, match="has the name of one of the stream's channels"):
        run_module(ONE_PER_CHANNEL_CLASS(), data, SAMPLE_RATE, channel_names=["neg_0", "b", "c", "d"])


def ONE_PER_CHANNEL_CLASS():
    namespace = {}
    exec(compile(ONE_PER_CHANNEL, "per_channel.py", "exec"), namespace)
    return namespace["PyProcessor"]


# Written as the published plugin's Modules/ are (every callback, process() inside try/except, a filter
# restarted each buffer), without derived channels: they record exactly as before.
PUBLISHED_STYLE = """
import numpy as np
from scipy import signal
import oe_pyprocessor


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        print("channels", num_channels, "rate", sample_rate)
        self.num_channels = num_channels
        self.sos = signal.butter(2, [500, 2000], btype="bandpass", output="sos", fs=sample_rate)

    def process(self, data):
        try:
            for channel in range(self.num_channels):
                data[channel] = signal.sosfilt(self.sos, data[channel])
        except Exception:
            pass

    def start_acquisition(self):
        pass

    def stop_acquisition(self):
        pass

    def handle_ttl_event(self, source_node, channel, sample_number, line, state):
        pass

    def handle_spike(self, source_node, electrode_name, num_channels, num_samples, sample_number, sorted_id, spike_data):
        pass

    def start_recording(self, recording_dir):
        pass

    def stop_recording(self):
        pass
"""


def test_a_module_written_as_the_published_examples_records_as_before(pyhost_each_mode, tmp_path):
    from scipy import signal

    source = spiky_input(tmp_path)
    result = pyhost_each_mode.run(pyhost_each_mode.script("published_style.py", PUBLISHED_STYLE),
                                  input_source=str(source))
    assert result.returncode == 0, result.stderr
    assert result.summary["instances"][0]["derived"] == [] and len(oebin_channels(result.output_dir)) == 4
    continuous = recording(result.output_dir).continuous[0]
    recorded = np.asarray(continuous.samples).astype(np.float64) * BIT_VOLTS
    inputs = recording(source).continuous[0].get_samples(0, 30000)
    sos = signal.butter(2, [500, 2000], btype="bandpass", output="sos", fs=SAMPLE_RATE)
    blocks = [signal.sosfilt(sos, inputs[start:start + 1024].astype(np.float32), axis=0) for start in range(0, 30000, 1024)]
    assert np.abs(recorded - np.concatenate(blocks)).max() <= BIT_VOLTS / 2 + 1e-3


# Each load declares one more channel than the last (a reload that changes the declarations).
GROWS_ON_RELOAD = """
from pathlib import Path

import oe_pyprocessor as oe

LOADS = Path(__file__).with_name("loads.txt")


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        loads = int(LOADS.read_text()) + 1 if LOADS.exists() else 1
        LOADS.write_text(str(loads))
        self.derived_channels = [oe.Derived("d%d" % k) for k in range(loads)]
        self.processor, self.loads = processor, loads

    def process(self, data):
        for k in range(self.loads):
            self.processor.derived["d%d" % k][:] = 10.0 * self.loads + k
"""


def test_a_reload_that_declares_more_channels_than_the_recording_has_keeps_running(pyhost_each_mode):
    """The recording keeps the channels of the first load (the GUI updates its chain only when stopped):
    the new declaration is computed and dropped, the old one goes on with the new load's values."""
    result = pyhost_each_mode.run(pyhost_each_mode.script("grows.py", GROWS_ON_RELOAD), extra=["--reload-at", "10"])
    assert result.returncode == 0, result.stderr
    assert [c["name"] for c in result.summary["instances"][0]["derived"]] == ["d0"]
    stored = np.asarray(recording(result.output_dir).continuous[0].samples)[:, 8] * BIT_VOLTS
    assert np.allclose(stored[:9000], 10.0, atol=BIT_VOLTS) and np.allclose(stored[9000:], 20.0, atol=BIT_VOLTS)


def test_the_command_line_names_the_derived_channels_and_plots_them(tmp_path):
    import subprocess
    import sys

    plot = tmp_path / "run.png"
    done = subprocess.run([sys.executable, "-m", "oe_pyproc", "run", str(TEMPLATE), "--input",
                           "synthetic:channels=8,rate=30000,seconds=0.5,block=1024", "--plot", str(plot)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "node 101 adds derived channels: envelope (uV), threshold (uV)" in done.stdout
    assert "plot written to" in done.stdout and plot.stat().st_size > 10_000
