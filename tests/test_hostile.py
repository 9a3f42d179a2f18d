"""Hostile modules (tests/hostile/) through the real host: each once crashed the engine or the host, or
hung it (issue 21). Now the run ends, with the module's data passed through, a warning or an error in
words, and never a signal. The same corpus runs under AddressSanitizer and UBSan in .ci/run
(tests/sanitize.sh)."""
from __future__ import annotations

import runpy
import signal
from pathlib import Path

import pytest

from conftest import continuous_int16, recording, spike_channel_name

HOSTILE = Path(__file__).parent / "hostile"
# The electrode names of odd_names.py, as it declares them.
NAMES = runpy.run_path(str(HOSTILE / "odd_names.py"), run_name="odd_names")["NAMES"]
TIMEOUT = ["--timeout", "120"]


def run(pyhost, name, *params, input_source="synthetic:channels=8,rate=30000,seconds=0.5,block=1000", extra=(),
        output=True, scripts=None):
    script = pyhost.script(name, (HOSTILE / name).read_text())
    options = list(TIMEOUT) + list(extra)
    for param in params:
        options += ["--param", param]
    result = pyhost.run(*(scripts or [script]), input_source=input_source, output=output, extra=options)
    assert result.returncode >= 0, f"killed by {signal.Signals(-result.returncode).name}: {result.stderr[-2000:]}"
    return result


@pytest.mark.parametrize("kind", ["strings", "records", "objects", "complex"])
def test_a_return_without_a_float32_form_is_ignored_with_a_warning(pyhost, kind):
    result = run(pyhost, "returns_unconvertible.py", f"kind={kind}")
    if kind == "complex":  # numpy converts complex (dropping the imaginary part, with its own warning)
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 0, result.stderr
    instance = result.summary["instances"][0]
    assert instance["state"] == "ready"
    assert "process() returned" in instance["warnings"] and "it is ignored" in instance["warnings"]
    written = continuous_int16(result.output_dir)
    passthrough = run(pyhost, "returns_unconvertible.py", "kind=strings", extra=["--param-at", "1:kind=strings"])
    assert written.shape == continuous_int16(passthrough.output_dir).shape


@pytest.mark.parametrize("call", ["publish", "event", "spike"])
def test_a_module_thread_inside_a_call_when_its_instance_is_destroyed(pyhost, call):
    """The thread resumes (while a second instance's __del__ holds the teardown) after its instance is
    gone: it finishes its call on memory that still lives, and the next call tells it in words."""
    lingers = pyhost.script("lingers_at_teardown.py", (HOSTILE / "lingers_at_teardown.py").read_text())
    threaded = pyhost.script("thread_inside_call_at_teardown.py",
                             (HOSTILE / "thread_inside_call_at_teardown.py").read_text())
    result = run(pyhost, "thread_inside_call_at_teardown.py", f"call={call}", scripts=[threaded, lingers])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "module thread told: this processor was removed" in result.stderr


def test_a_view_kept_late_still_reads_the_last_buffer_in_the_last_callbacks(pyhost):
    """64 channels x 1024 floats: the host's block is large enough that freeing it unmaps it."""
    result = run(pyhost, "keeps_view_late.py", input_source="synthetic:channels=64,rate=30000,seconds=0.5,block=1024")
    assert result.returncode == 0, result.stderr
    for where in ("stop_recording", "stop_acquisition"):
        assert f"{where}: kept buffer sum" in result.stderr and "finite True" in result.stderr


@pytest.mark.parametrize("to", ["shrink", "grow"])
def test_fresh_data_resized_in_place_is_an_error_in_words(pyhost, to):
    result = run(pyhost, "resizes_fresh_data.py", f"to={to}",
                 input_source="synthetic:channels=64,rate=30000,seconds=0.2,block=1024")
    assert result.returncode == 1, result.stderr
    assert "process() resized `data`" in result.summary["instances"][0]["error"]
    written = continuous_int16(result.output_dir)  # the errored module's data passed through
    assert written.shape[1] == 64


@pytest.mark.parametrize("name", ["long", "dots", "dot", "device", "separators", "empty", "control", "long_utf8"])
def test_an_electrode_name_no_folder_can_hold_is_made_safe(pyhost, name):
    result = run(pyhost, "odd_names.py", f"name={name}")
    assert result.returncode == 0, result.stderr
    assert result.summary["instances"][0]["spikes_out"] == 1
    folders = [p for p in result.output_dir.rglob("*") if p.is_dir() and p.parent.parent.name == "spikes"]
    assert len(folders) == 1 and len(folders[0].name.encode()) <= 100 and folders[0].name not in (".", "..")
    spike_names = [spike_channel_name(s) for s in recording(result.output_dir).spikes]
    assert spike_names == [NAMES[name]]  # the name itself is kept, in structure.oebin


@pytest.mark.parametrize("spec, words", [
    ("rate=1e20", "rate must be a number from 1 to 1e+06"),
    ("rate=1e308,seconds=1e-300", "rate must be a number from 1 to 1e+06"),
    ("rate=30000,seconds=1e30", "seconds must be a number from 1e-06 to 1e+07"),
    ("channels=0", "channels must be a whole number from 1"),
])
def test_absurd_synthetic_specs_are_refused_in_words(pyhost, spec, words):
    script = pyhost.script("noop.py", "class PyProcessor:\n    def __init__(self, p, n, r):\n        pass\n"
                                      "    def process(self, data):\n        pass\n")
    result = pyhost.run(script, input_source=f"synthetic:{spec}", output=False, extra=TIMEOUT)
    assert result.returncode == 2, result.stderr
    assert words in result.reason


@pytest.mark.parametrize("where, words", [
    ("fresh_data", "PyProcessor.fresh_data raised ArithmeticError: fresh_data refused"),
    ("index", "__index__ refused"),
    ("bool", "__bool__ refused"),
    ("array", "__array__ refused"),
    ("huge_line", "line must be an integer that fits in 64 bits, got 18446744073709551616"),
])
def test_conversions_that_raise_are_reported_with_their_words(pyhost, where, words):
    result = run(pyhost, "raising_conversions.py", f"where={where}")
    instance = result.summary["instances"][0]
    if where == "fresh_data":  # read once after __init__: a warning, and the module runs on
        assert result.returncode == 0 and instance["state"] == "ready"
        assert words in instance["warnings"]
    else:
        assert result.returncode == 1 and words in instance["error"], instance


def test_an_old_thread_after_a_reload_is_told_and_does_not_slow_the_new_load(pyhost):
    result = run(pyhost, "thread_after_reload.py", extra=["--reload-at", "3"],
                 input_source="synthetic:channels=8,rate=30000,seconds=2,block=1000")
    assert result.returncode == 0, result.stderr
    # Before, every event of the old thread cost the new load a hold of the GIL: the run outlived --timeout.
    assert "old thread told: this processor was reloaded" in result.stderr
