"""Modules written for the published plugin run unchanged: each behaviour a module can observe,
as open-ephys-plugins/python-processor's Source/PythonProcessor.cpp has it, through the real host.
The modules below do what its users' modules do."""
import json

import numpy as np
import pytest

from conftest import SCRIPTS, continuous_int16, events_of
from support import synthetic_ttl_edges


@pytest.fixture
def pyhost(pyhost_each_mode):
    """Every test here runs in-process and isolated: a module sees no difference."""
    return pyhost_each_mode

SYNTHETIC = "synthetic:channels=8,rate=30000,seconds=0.5,block=1000"
SHORT_LAST_BLOCK = "synthetic:channels=8,rate=30000,seconds=0.55,block=1000"  # 17 blocks, the last of 500

TTL_CONTROLLED = '''
class PyProcessor:
    """Marks the buffer after each pulse on line 1: a control driven by `state is True`."""
    def __init__(self, processor, num_channels, sample_rate):
        self.armed = False

    def handle_ttl_event(self, source_node, channel, sample_number, line, state):
        if line == 1 and state is True:
            self.armed = True

    def process(self, data):
        if self.armed:
            data[0] = 1000.0
            self.armed = False
'''


def test_a_control_driven_by_state_is_true_fires(pyhost):
    result = pyhost.run(pyhost.script("ttl_control.py", TTL_CONTROLLED), input_source=SYNTHETIC)
    assert result.returncode == 0, result.stderr
    marked = [block for block in range(15) if (continuous_int16(result.output_dir)[block * 1000:(block + 1) * 1000, 0]
                                               == round(1000 / 0.195)).all()]
    pulses = [sample for sample, line, state in synthetic_ttl_edges(15000, 30000) if line == 1 and state]
    assert marked == [sample // 1000 for sample in pulses] == [3, 11]  # each delivered before its buffer




def test_rows_kept_from_data_stay_correct_from_the_first_buffer(pyhost):
    reference = pyhost.run(pyhost.script("passthrough.py"), input_source=SYNTHETIC)
    script = pyhost.script("keeps_rows.py")
    result = pyhost.run(script, input_source=SYNTHETIC)
    assert result.returncode == 0, result.stderr
    assert json.loads((script.parent / "kept.json").read_text())["same"] == [True] * 15
    instance = result.summary["instances"][0]
    if pyhost.mode == "in-process":  # isolated, every buffer is fresh memory: nothing to say
        assert "each buffer is a fresh copy for it" in instance["warnings"]
    assert "shows later data" not in instance["warnings"]
    np.testing.assert_array_equal(continuous_int16(result.output_dir), continuous_int16(reference.output_dir) + 10)




def test_fresh_data_gives_the_published_plugins_c_contiguous_array(pyhost):
    reference = pyhost.run(pyhost.script("passthrough.py"), input_source=SHORT_LAST_BLOCK)
    fresh = pyhost.run(pyhost.script("fresh_data_reshape.py"), input_source=SHORT_LAST_BLOCK)
    assert fresh.returncode == 0, fresh.summary["instances"][0]["error"]
    doubled = continuous_int16(fresh.output_dir).astype(np.int32)
    assert np.abs(doubled - 2 * continuous_int16(reference.output_dir).astype(np.int32)).max() <= 1
    assert fresh.summary["instances"][0]["warnings"] == ""

    # Without it, in-process, the last buffer (500 of the host's 1000 samples) is a strided view: the
    # module errors there. Isolated, every `data` is C-contiguous, as in the published plugin.
    without = (SCRIPTS / "fresh_data_reshape.py").read_text().replace("fresh_data = True", "")
    view = pyhost.run(pyhost.script("view.py", without), input_source=SHORT_LAST_BLOCK)
    instance = view.summary["instances"][0]
    if pyhost.mode == "isolated":
        assert view.returncode == 0 and instance["state"] == "ready", instance
        np.testing.assert_array_equal(continuous_int16(view.output_dir), continuous_int16(fresh.output_dir))
        return
    assert view.returncode == 1
    assert instance["state"] == "errored" and "casts are restricted to C-contiguous views" in instance["error"]
    assert instance["calls"] == 17


RETURNS_JUNK = '''
import numpy as np

class PyProcessor:
    """Edits in place and returns what the published plugin ignored."""
    def __init__(self, processor, num_channels, sample_rate):
        self.calls = 0

    def process(self, data):
        self.calls += 1
        data += 1.95
        return [[], True, np.zeros(3), data[:2], {"done": 1}][self.calls % 5]
'''


def test_return_values_the_published_plugin_ignored_are_ignored_with_one_warning(pyhost):
    reference = pyhost.run(pyhost.script("passthrough.py"), input_source=SYNTHETIC)
    result = pyhost.run(pyhost.script("returns.py", RETURNS_JUNK), input_source=SYNTHETIC)
    assert result.returncode == 0, result.summary["instances"][0]["error"]
    instance = result.summary["instances"][0]
    assert instance["state"] == "ready" and instance["calls"] == 15
    assert instance["warnings"].count("it is ignored, as the published plugin ignored it") == 1
    assert "process() returned bool True" in instance["warnings"] and "(8, 1000)" in instance["warnings"]
    np.testing.assert_array_equal(continuous_int16(result.output_dir), continuous_int16(reference.output_dir) + 10)


EVENTS_AS_PUBLISHED = '''
import numpy as np

class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        processor.add_python_event(5, True)          # not acquiring yet: dropped
        self.sent = False

    def process(self, data):
        if not self.sent:
            self.sent = True
            for line, state in [(1, None), (2, 0.0), (3, 2), (4, np.True_), (300, True), (6, np.float32(0.5))]:
                self.processor.add_python_event(line, state)

    def stop_acquisition(self):
        self.processor.add_python_event(7, True)     # acquisition over: dropped
'''


def test_add_python_event_accepts_what_the_published_plugin_accepted(pyhost):
    result = pyhost.run(pyhost.script("events.py", EVENTS_AS_PUBLISHED), input_source=SYNTHETIC)
    assert result.returncode == 0, result.summary["instances"][0]["error"]
    instance = result.summary["instances"][0]
    assert instance["state"] == "ready" and instance["events_out"] == 5
    events = events_of(result.output_dir, 101)
    # Recordings store ±(line + 1): lines 1-4 and 6 read as 2-5 and 7.
    assert sorted(zip(events.line, events.state)) == [(2, 0), (3, 0), (4, 1), (5, 1), (7, 1)]
    assert "line 300 is outside 0-255, so the event was dropped" in instance["warnings"]
    assert "while not acquiring" in instance["warnings"]
    assert instance["warnings"].count("while not acquiring") == 1  # once, for both drops


MY_FILTER = '''
import json, multiprocessing, os, pickle, sys

import helper_of_my_filter


def square(x):
    return x * x


class Settings:
    def __init__(self, gain):
        self.gain = gain


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        restored = pickle.loads(pickle.dumps(Settings(3.0)))
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            squares = pool.map(square, range(5))
        report = {"name": __name__, "gain": restored.gain, "squares": squares,
                  "helper_sees_this_module": helper_of_my_filter.module_of_my_filter().PyProcessor is PyProcessor}
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "report.json"), "w") as out:
            json.dump(report, out)

    def process(self, data):
        pass
'''

HELPER = '''
def module_of_my_filter():
    import my_filter
    return my_filter
'''


def test_the_module_is_named_by_its_file_so_pickle_spawn_and_imports_work(pyhost):
    pyhost.script("helper_of_my_filter.py", HELPER)
    script = pyhost.script("my_filter.py", MY_FILTER)
    result = pyhost.run(script, input_source=SYNTHETIC, output=False, extra=["--timeout", "120"])
    assert result.returncode == 0, result.summary["instances"][0]["error"]
    assert json.loads((script.parent / "report.json").read_text()) == {
        "name": "my_filter", "gain": 3.0, "squares": [0, 1, 4, 9, 16], "helper_sees_this_module": True}
