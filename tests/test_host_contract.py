"""The module contract, through the real host process and the real engine."""

import json

import numpy as np
import pytest

from conftest import continuous_int16, events_of, quantize, read_log, recording, spike_channel_name
from support import synthetic_ttl_edges


@pytest.fixture
def pyhost(pyhost_each_mode):
    """Every test here runs in-process and isolated: a module sees no difference."""
    return pyhost_each_mode

SYNTHETIC = "synthetic:channels=8,rate=30000,seconds=0.5,block=1000"


def test_every_callback_is_reached_with_documented_arguments(pyhost):
    script = pyhost.script("record_callbacks.py")
    result = pyhost.run(script, input_source=SYNTHETIC)
    assert result.returncode == 0, result.stderr
    calls = read_log(script.parent / "calls.jsonl")
    names = [c["call"] for c in calls]

    init = calls[0]
    assert init["call"] == "__init__"
    assert init["processor_type"] == "PythonProcessor" and init["is_embedded_type"]
    assert (init["num_channels"], init["sample_rate"]) == (8, 30000.0)
    # Every argument has the published plugin's type (Source/PythonProcessor.cpp: int, double, a str
    # path, and for events and spikes the pybind11 casts of int, const char*, int64, uint8, bool).
    assert init["types"] == {"num_channels": "int", "sample_rate": "float"}
    assert names[1:3] == ["start_acquisition", "start_recording"]
    assert calls[2]["recording_dir"] == result.summary["output"] and calls[2]["type"] == "str"
    assert names[-2:] == ["stop_recording", "stop_acquisition"]

    processes = [c for c in calls if c["call"] == "process"]
    assert len(processes) == 15 == result.summary["instances"][0]["calls"]
    assert all(p["shape"] == [8, 1000] and p["dtype"] == "float32" and p["writeable"] for p in processes)

    ttl = [c for c in calls if c["call"] == "handle_ttl_event"]
    schedule = synthetic_ttl_edges(15000, 30000)  # the source's table: 15 blocks of 1000 at 30 kHz
    line0 = [(e["sample_number"], e["state"]) for e in ttl if e["line"] == 0]
    assert line0 == [(sample, int(state)) for sample, line, state in schedule if line == 0] == [(0, 1)]
    assert {(e["source_node"], e["channel"]) for e in ttl} == {(100, "Synthetic TTL")}
    line1 = [(e["sample_number"], e["state"]) for e in ttl if e["line"] == 1]
    assert line1 == [(sample, int(state)) for sample, line, state in schedule if line == 1]
    assert line1[:2] == [(3750, 1), (4050, 0)], "10 ms pulses every 250 ms from 125 ms"
    assert all(e["types"] == {"source_node": "int", "channel": "str", "sample_number": "int", "line": "int",
                              "state": "bool"} for e in ttl)

    spikes = [c for c in calls if c["call"] == "handle_spike"]
    assert spikes, "the synthetic source has spikes"
    assert all(s["shape"] == [s["num_channels"], s["num_samples"]] == [4, 40] for s in spikes)
    assert all(s["dtype"] == "float32" and s["peak"] < -50 for s in spikes)
    assert {s["electrode_name"] for s in spikes} <= {"Electrode 1", "Electrode 2"}
    assert all(s["types"] == {"source_node": "int", "electrode_name": "str", "num_channels": "int",
                              "num_samples": "int", "sample_number": "int", "sorted_id": "int"}
               and s["data_type"] == "ndarray" for s in spikes)
    # Events and spikes arrive before the buffer they belong to.
    order = [(c["call"], c.get("sample_number")) for c in calls]
    first_spike = next(i for i, c in enumerate(calls) if c["call"] == "handle_spike")
    block_of_spike = calls[first_spike]["sample_number"] // 1000
    process_index = [i for i, c in enumerate(calls) if c["call"] == "process"][block_of_spike]
    assert first_spike < process_index, order[:20]


def test_data_reach_python_without_a_copy(pyhost):
    script = pyhost.script("record_callbacks.py")
    pyhost.run(script, input_source=SYNTHETIC, output=False)
    blocks = [c for c in read_log(script.parent / "calls.jsonl") if c["call"] == "process"]
    # In-process, the first call of a load is on a copy (a module that keeps it is seen before any
    # harm); from then on a view on the host's buffer (its base is the engine's capsule), not a copy.
    # Isolated, every call is on the shared memory the worker lends, from the first.
    assert blocks[0]["base"] == ("PyCapsule" if pyhost.mode == "isolated" else "NoneType")
    assert len(blocks) > 10 and {b["base"] for b in blocks[1:]} == {"PyCapsule"}
    assert {tuple(b["strides"]) for b in blocks} == {(1000 * 4, 4)}


def test_in_place_edits_reach_the_output_exactly(pyhost):
    reference = pyhost.run(pyhost.script("passthrough.py"), input_source=SYNTHETIC)
    doubled = pyhost.run(pyhost.script("double_in_place.py"), input_source=SYNTHETIC)
    assert doubled.returncode == 0, doubled.stderr
    original = continuous_int16(reference.output_dir).astype(np.float32) * np.float32(0.195)
    np.testing.assert_array_equal(continuous_int16(doubled.output_dir), quantize(original * 2))


def test_returned_arrays_replace_the_output(pyhost):
    reference = pyhost.run(pyhost.script("passthrough.py"), input_source=SYNTHETIC)
    negated = pyhost.run(pyhost.script("negate_returned.py"), input_source=SYNTHETIC)
    assert negated.returncode == 0, negated.stderr
    np.testing.assert_array_equal(continuous_int16(negated.output_dir), -continuous_int16(reference.output_dir))


def test_events_land_at_the_requested_sample(pyhost):
    result = pyhost.run(pyhost.script("events_at_offsets.py"), input_source=SYNTHETIC)
    assert result.returncode == 0, result.stderr
    events = events_of(result.output_dir, 101)
    # Recordings store ±(line + 1), so open-ephys-python-tools reports line 3 as 4.
    line3 = events[events.line == 4]
    on = sorted(line3[line3.state == 1].sample_number)
    off = sorted(line3[line3.state == 0].sample_number)
    assert on == [b * 1000 + 7 for b in range(15)]
    assert off == [b * 1000 + 7 + b for b in range(15)]
    assert result.summary["instances"][0]["events_out"] == 45


def test_spikes_in_and_out(pyhost):
    result = pyhost.run(pyhost.script("spike_echo.py"), input_source=SYNTHETIC)
    assert result.returncode == 0, result.stderr
    rec = recording(result.output_dir)
    echoes = [s for s in rec.spikes if spike_channel_name(s).startswith("Echo")]
    synthetic = pyhost.run(pyhost.script("record_callbacks.py"), input_source=SYNTHETIC, output=False)
    assert synthetic.returncode == 0
    sent = [c for c in read_log(pyhost.workdir / "calls.jsonl") if c["call"] == "handle_spike"]
    total = sum(len(s.sample_numbers) for s in echoes)
    assert total == len(sent) == result.summary["instances"][0]["spikes_out"]
    assert set(np.concatenate([np.asarray(s.clusters) for s in echoes])) == {3}
    sample_numbers = sorted(np.concatenate([np.asarray(s.sample_numbers) for s in echoes]))
    assert sample_numbers == sorted(s["sample_number"] for s in sent)
    # The echoed waveform is the negated input: its peak is positive.
    peaks = np.concatenate([s.waveforms.max(axis=(1, 2)) for s in echoes])
    assert np.allclose(sorted(peaks), sorted(-s["peak"] for s in sent), atol=1e-3)


def test_two_instances_of_one_script_keep_separate_state(pyhost):
    result = pyhost.run(pyhost.script("separate_state.py"), input_source=SYNTHETIC, instances=2)
    assert result.returncode == 0, result.stderr
    for node in (101, 102):
        events = events_of(result.output_dir, node)
        assert list(events.sample_number) == [4000], f"node {node} counted only its own buffers"


def test_module_keeping_data_is_switched_to_copies(pyhost):
    reference = pyhost.run(pyhost.script("passthrough.py"), input_source=SYNTHETIC)
    result = pyhost.run(pyhost.script("keeps_data.py"), input_source=SYNTHETIC)
    assert result.returncode == 0, result.stderr
    warnings = result.summary["instances"][0]["warnings"]
    # Isolated, each buffer is fresh memory anyway: there is nothing to warn about.
    assert ("each buffer is a fresh copy for it" in warnings) == (pyhost.mode == "in-process"), warnings
    expected = continuous_int16(reference.output_dir) + 10
    np.testing.assert_array_equal(continuous_int16(result.output_dir), expected)


def test_module_prints_do_not_corrupt_the_json_summary(pyhost):
    result = pyhost.run(pyhost.script("prints.py"), input_source=SYNTHETIC, output=False)
    assert result.returncode == 0
    assert result.summary["instances"][0]["state"] == "ready"
    assert "hello from the module" in result.stderr


def test_python_threads_run_between_calls(pyhost):
    script = pyhost.script("background_thread.py")
    result = pyhost.run(script, input_source=SYNTHETIC)
    assert result.returncode == 0, result.stderr
    assert json.loads((script.parent / "thread_ran.json").read_text()) is True


def test_summary_names_the_python_that_ran(pyhost, python_home):
    import platform

    result = pyhost.run(pyhost.script("passthrough.py"), input_source=SYNTHETIC, output=False)
    summary = result.summary
    assert summary["python_version"] == platform.python_version()
    assert summary["python_home"] == str(python_home.resolve())
    assert summary["input"] == {"stream": "synthetic", "channels": 8, "sample_rate": 30000, "samples": 15000,
                                "blocks": 15}
    latency = summary["instances"][0]["latency_us"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
