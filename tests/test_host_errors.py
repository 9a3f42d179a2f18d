"""Errors in modules: the host stays alive, data pass through, the error is kept with its traceback."""
import numpy as np
import pytest

from conftest import continuous_int16

SYNTHETIC = "synthetic:channels=8,rate=30000,seconds=0.5,block=1000"

FAILING_MODULE = '''
import sys

class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.buffers = 0
        {init}

    def process(self, data):
        self.buffers += 1
        if self.buffers == 3:
            {process}

    def start_acquisition(self):
        {start_acquisition}

    def stop_acquisition(self):
        {stop_acquisition}

    def start_recording(self, recording_dir):
        {start_recording}

    def stop_recording(self):
        {stop_recording}

    def handle_ttl_event(self, source_node, channel, sample_number, line, state):
        {handle_ttl_event}

    def handle_spike(self, source_node, electrode_name, num_channels, num_samples, sample_number, sorted_id,
                     spike_data):
        {handle_spike}
'''
CALLBACKS = ["init", "process", "start_acquisition", "stop_acquisition", "start_recording", "stop_recording",
             "handle_ttl_event", "handle_spike"]
RAISES = {
    "ZeroDivisionError": "1 / 0",
    "SystemExit": "sys.exit(3)",
    "KeyboardInterrupt": "raise KeyboardInterrupt",
}


def failing_module(callback, statement):
    bodies = {name: "pass" for name in CALLBACKS}
    bodies[callback] = statement
    return FAILING_MODULE.format(**bodies)


@pytest.mark.parametrize("exception", list(RAISES))
@pytest.mark.parametrize("callback", CALLBACKS)
def test_an_exception_in_any_callback_leaves_the_data_passing_through(pyhost, callback, exception):
    reference = pyhost.run(pyhost.script("passthrough.py"), input_source=SYNTHETIC)
    script = pyhost.script(f"fails_in_{callback}.py", failing_module(callback, RAISES[exception]))
    result = pyhost.run(script, input_source=SYNTHETIC)

    assert result.returncode == 1, "errored module: exit status 1"
    instance = result.summary["instances"][0]
    assert instance["state"] == "errored"
    assert exception in instance["error"] and "Traceback" in instance["error"]
    assert str(script) in instance["error"], "the traceback names the user's file"
    assert exception in result.reason
    np.testing.assert_array_equal(continuous_int16(result.output_dir), continuous_int16(reference.output_dir))


@pytest.mark.parametrize("source, message", [
    ("class PyProcessor(:\n    pass\n", "SyntaxError"),
    ("import no_such_module_here\n", "ModuleNotFoundError: No module named 'no_such_module_here'"),
    ("class Processor:\n    pass\n", "the script defines no class PyProcessor"),
    ("class PyProcessor:\n    def __init__(self, p, n, r):\n        pass\n", "PyProcessor has no process(self, data)"),
    ("class PyProcessor:\n    def __init__(self, num_channels, sample_rate):\n        pass\n"
     "    def process(self, data):\n        pass\n", "TypeError"),
])
def test_broken_scripts_are_explained(pyhost, source, message):
    result = pyhost.run(pyhost.script("broken.py", source), input_source=SYNTHETIC, output=False)
    assert result.returncode == 1
    assert message in result.summary["instances"][0]["error"]


def test_missing_script_is_explained(pyhost):
    result = pyhost.run(pyhost.workdir / "nowhere.py", input_source=SYNTHETIC, output=False)
    assert result.returncode == 1
    assert "script not found" in result.summary["instances"][0]["error"]


@pytest.mark.parametrize("call, message", [
    ("self.p.add_python_event(1.5, True)", "line must be an integer, got float 1.5"),
    ("self.p.add_python_event(1, 'on')", "state must be True/False (or a number or None, read as a bool), got str 'on'"),
    ("self.p.add_python_event(1, True, sample_offset=1000)", "sample_offset must be 0-999, got 1000"),
    ("self.p.add_python_spike(0, np.zeros(40))", "waveform must be 2-D (channels x samples), got shape (40,)"),
    ("self.p.add_python_spike(0, 'abc')", "waveform must be an array of numbers"),
    ("self.p.add_python_spike(-1, np.zeros((4, 40)))", "sample_number must be 0-"),
    ("self.p.add_python_spike(0, np.zeros((4, 40)), sorted_id=70000)", "sorted_id must be 0-65535, got 70000"),
])
def test_arguments_from_python_are_validated(pyhost, call, message):
    source = ("import numpy as np\n\nclass PyProcessor:\n    def __init__(self, p, n, r):\n        self.p = p\n\n"
              f"    def process(self, data):\n        {call}\n")
    result = pyhost.run(pyhost.script("bad_call.py", source), input_source=SYNTHETIC, output=False)
    assert result.returncode == 1
    assert message in result.summary["instances"][0]["error"]


def test_a_module_stuck_in_a_loop_ends_with_the_timeout(pyhost):
    source = "class PyProcessor:\n    def __init__(self, p, n, r):\n        pass\n\n" \
             "    def process(self, data):\n        while True:\n            pass\n"
    result = pyhost.run(pyhost.script("stuck.py", source), input_source=SYNTHETIC, output=False,
                        extra=["--timeout", "3"])
    assert result.returncode == 4
    assert result.reason == "the run did not finish within 3 s (is a module stuck in a loop?)"


def test_a_module_thread_sending_events_between_calls_is_safe(pyhost):
    source = '''
import threading


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.running = True
        self.thread = threading.Thread(target=self.send, daemon=True)
        self.thread.start()

    def send(self):
        while self.running:
            self.processor.add_python_event(2, True)
            self.processor.add_python_spike(0, [[1.0, 2.0, 3.0]])

    def process(self, data):
        pass

    def stop_acquisition(self):
        self.running = False
        self.thread.join()
'''
    result = pyhost.run(pyhost.script("sender.py", source),
                        input_source="synthetic:channels=2,rate=30000,seconds=1,block=64")
    assert result.returncode == 0, result.stderr
    instance = result.summary["instances"][0]
    assert instance["events_out"] > 0 and instance["spikes_out"] > 0


def test_large_errors_from_many_instances_do_not_block_the_summary(pyhost):
    source = "class PyProcessor:\n    def __init__(self, p, n, r):\n        raise ValueError('x' * 20000)\n" \
             "    def process(self, data):\n        pass\n"
    result = pyhost.run(pyhost.script("loud.py", source), input_source=SYNTHETIC, output=False, instances=5,
                        extra=["--timeout", "60"])
    assert result.returncode == 1
    assert len(result.summary["instances"]) == 5
    assert all(len(i["error"]) > 20000 for i in result.summary["instances"])


def test_oe_pyproc_run_shows_a_module_that_fails_to_load(pyhost):
    import subprocess
    import sys

    script = pyhost.script("fails_at_import.py", "raise RuntimeError('cannot start here')\n")
    shown = subprocess.run([sys.executable, "-m", "oe_pyproc", "run", str(script), "--input", SYNTHETIC],
                           capture_output=True, text=True)
    assert shown.returncode == 1
    assert "RuntimeError: cannot start here" in shown.stdout and "errored" in shown.stdout
