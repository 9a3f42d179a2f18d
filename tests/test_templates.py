"""The module templates, run through the real host and checked against what they should compute."""
import importlib.util
import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from conftest import BIT_VOLTS, continuous_int16, events_of, quantize, recording, spike_channel_name, write_recording
from support import synthetic_ttl_edges

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
ALL_TEMPLATES = sorted(TEMPLATES.glob("*.py"))
CONTRACT = {"__init__", "process", "start_acquisition", "stop_acquisition", "start_recording", "stop_recording",
            "handle_ttl_event", "handle_spike", "parameter_changed"}
RATE = 30000
PYTHON_NODE = 101  # the first (only) Python Processor in the host's chain
SOURCE_NODE = 100


def template(pyhost, name, **constants):
    """A copy of templates/<name>.py in the scratch folder, with the given module constants changed."""
    source = (TEMPLATES / f"{name}.py").read_text()
    for constant, value in constants.items():
        source, count = re.subn(rf"^{constant} = .*$", f"{constant} = {value!r}", source, flags=re.M)
        assert count == 1, f"{name}.py has no single line '{constant} = ...'"
    return pyhost.script(f"{name}.py", source)


def load_template(path: Path, monkeypatch):
    """Imports a template outside the host, with the oe_pyprocessor stand-in."""
    spec = importlib.util.spec_from_file_location(f"template_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def input_microvolts(pyhost, input_source):
    """samples x channels, float64: exactly the float32 values the module was given."""
    result = pyhost.run(pyhost.script("passthrough.py"), input_source=input_source)
    assert result.returncode == 0, result.stderr
    steps = continuous_int16(result.output_dir).astype(np.float64)
    # The sources hand out float(steps * bit_volts), computed in double.
    return (steps * BIT_VOLTS).astype(np.float32).astype(np.float64)


def assert_ran(result):
    instance = result.summary["instances"][0]
    assert result.returncode == 0 and instance["state"] == "ready", (instance.get("error"), result.stderr)
    return instance


def edges(events, line, state):
    """Sample numbers of one line's edges; recordings store line + 1, as open-ephys-python-tools reports it."""
    if events is None:
        return []
    selected = events[(events.line == line + 1) & (events.state == state)]
    return sorted(int(s) for s in selected.sample_number)


# --- every template ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_TEMPLATES, ids=[p.stem for p in ALL_TEMPLATES])
def test_every_template_runs_unchanged_and_keeps_to_the_contract(pyhost, path, monkeypatch):
    result = pyhost.run(pyhost.script(path.name, path.read_text()), output=False)
    assert_ran(result)

    cls = load_template(path, monkeypatch).PyProcessor
    methods = {name for name, member in vars(cls).items()
               if inspect.isfunction(member) or isinstance(member, (staticmethod, classmethod))}
    assert {"__init__", "process"} <= methods
    beyond = {name for name in methods - CONTRACT if not name.startswith("_") or name.startswith("__")}
    assert not beyond, f"{path.name} defines methods the plugin never calls: {sorted(beyond)}"
    contract = load_template(TEMPLATES / "processor_template.py", monkeypatch).PyProcessor
    for name in methods & CONTRACT:
        assert list(inspect.signature(getattr(cls, name)).parameters) == \
            list(inspect.signature(getattr(contract, name)).parameters), f"{path.name}: {name}() arguments"


# --- bandpass_filter ----------------------------------------------------------------------------------------


def bandpass_sos(rate=RATE):
    return signal.butter(4, [300.0, 6000.0], btype="bandpass", fs=rate, output="sos")


@pytest.mark.parametrize("block", [64, 1000, 1024])
def test_bandpass_output_equals_filtering_the_whole_signal_at_once(pyhost, block):
    spec = f"synthetic:channels=4,rate={RATE},seconds=1,block={block}"
    x = input_microvolts(pyhost, spec)
    script = template(pyhost, "bandpass_filter", LOW_HZ=300.0, HIGH_HZ=6000.0, ORDER=4)
    result = pyhost.run(script, input_source=spec)
    assert_ran(result)
    recorded = continuous_int16(result.output_dir).astype(np.int64)

    # Offline: one sosfilt over the whole signal, from the same initial state as the
    # template (steady state for each channel's first sample), in float64.
    sos = bandpass_sos()
    # With axis=0 the state is (sections, 2, channels).
    zi = signal.sosfilt_zi(sos)[:, :, np.newaxis] * x[0][np.newaxis, np.newaxis, :]
    whole, _ = signal.sosfilt(sos, x, axis=0, zi=zi)
    expected = quantize(whole).astype(np.int64)
    assert recorded.shape == expected.shape == (RATE, 4)
    steps_off = np.abs(recorded - expected)
    # Blockwise and whole-signal filtering do the same float64 operations; a float
    # difference could only tip a value across a rounding boundary, by one step.
    assert steps_off.max() <= 1
    assert np.mean(steps_off == 0) >= 0.99, f"{np.count_nonzero(steps_off)} samples differ by one step"
    assert np.std(expected) > 10, "the filtered signal is not trivially zero"

    # The published example restarted the filter from rest on every buffer: far off.
    published = np.concatenate([signal.sosfilt(sos, x[i:i + block], axis=0) for i in range(0, len(x), block)])
    published_off = np.abs(quantize(published).astype(np.int64) - expected)
    assert published_off.max() > 50
    assert np.mean(published_off > 1) > 0.05


def test_bandpass_refuses_a_sample_rate_too_low_for_its_band(pyhost):
    result = pyhost.run(pyhost.script("bandpass_filter.py", (TEMPLATES / "bandpass_filter.py").read_text()),
                        input_source="synthetic:channels=2,rate=10000,seconds=0.1,block=500", output=False)
    instance = result.summary["instances"][0]
    assert result.returncode == 1 and instance["state"] == "errored"
    assert "ValueError" in instance["error"] and "too low for HIGH_HZ" in instance["error"]


# --- threshold_detector ---------------------------------------------------------------------------------------

THRESHOLD = dict(channel=0, threshold_uv=-100.0, refractory_ms=2.0, output_line=2)  # its parameters
PULSE_SAMPLES = 30
REFRACTORY_SAMPLES = 60  # 0.002 s at 30 kHz


def threshold_signal():
    """Two channels, 0.5 s; channel 0 crosses -100 uV downward at DETECTED (and where it must be ignored)."""
    x = np.zeros((15000, 2))

    def dip(start, length=3, channel=0, depth=-150.0):
        x[start:start + length, channel] = depth

    dip(500)                   # an ordinary crossing
    x[1999, 0] = -50.0         # above the threshold, last sample of buffer 2 (with 1000-sample buffers) ...
    dip(2000)                  # ... and below it at the first sample of buffer 3: a crossing between buffers
    dip(4950, length=150)      # stays below across the boundary at 5000: one crossing, at 4950
    dip(7000)
    dip(7030)                  # 30 samples later: inside the refractory period, ignored
    dip(7100)                  # 100 samples later: detected
    dip(8980)
    dip(9020)                  # refractory period carried into the next buffer: ignored
    dip(9985)                  # the pulse does not fit in the buffer: off at 10000
    x[12000:12005, 0] = 200.0  # upward excursion: not a downward crossing
    x[12500:12505, 0] = -99.0  # close to, but above, the threshold
    dip(13000, channel=1)      # another channel
    return x


DETECTED = [500, 2000, 4950, 7000, 7100, 8980, 9985]


@pytest.mark.parametrize("block", [1000, 64])
def test_threshold_events_land_at_the_exact_crossing_samples(pyhost, tmp_path, block):
    x = threshold_signal()
    # The signal as the module sees it (int16 steps) really crosses where intended.
    seen = np.rint(x[:, 0] / BIT_VOLTS) * BIT_VOLTS
    crossings = np.flatnonzero((seen[:-1] > -100.0) & (seen[1:] <= -100.0)) + 1
    assert list(crossings) == [500, 2000, 4950, 7000, 7030, 7100, 8980, 9020, 9985]

    source = write_recording(tmp_path / "known_signal", x, RATE)
    params = [flag for name, value in THRESHOLD.items() for flag in ("--param", f"{name}={value}")]
    result = pyhost.run(template(pyhost, "threshold_detector", PULSE_SAMPLES=PULSE_SAMPLES), input_source=str(source),
                        extra=["--block", str(block), *params])
    instance = assert_ran(result)
    events = events_of(result.output_dir, PYTHON_NODE)
    assert edges(events, THRESHOLD["output_line"], 1) == DETECTED

    def off_sample(on):
        """PULSE_SAMPLES later if that is still in the buffer, else the next buffer's first sample."""
        fits = on % block + PULSE_SAMPLES < block
        return on + PULSE_SAMPLES if fits else (on // block + 1) * block

    assert edges(events, THRESHOLD["output_line"], 0) == [off_sample(on) for on in DETECTED]
    if block == 1000:
        assert off_sample(9985) == 10000, "one pulse is cut at a buffer boundary"
    assert instance["events_out"] == 2 * len(DETECTED)


# --- spike_example -------------------------------------------------------------------------------------------

SPIKE_LOGGER = '''
"""Logs every spike delivered, waveform included, to spikes.jsonl beside this file."""
import json
import os

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spikes.jsonl")


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        pass

    def process(self, data):
        pass

    def handle_spike(self, source_node, electrode_name, num_channels, num_samples, sample_number, sorted_id,
                     spike_data):
        with open(LOG, "a") as out:
            out.write(json.dumps({"electrode": electrode_name, "sample_number": sample_number,
                                  "waveform": spike_data.tolist()}) + "\\n")
'''


def test_spike_example_sends_each_spike_back_with_the_predicted_sorted_id(pyhost):
    spec = f"synthetic:channels=8,rate={RATE},seconds=2,block=1000"
    logger = pyhost.script("spike_logger.py", SPIKE_LOGGER)
    assert pyhost.run(logger, input_source=spec, output=False).returncode == 0
    delivered = [json.loads(line) for line in (logger.parent / "spikes.jsonl").read_text().splitlines()]
    assert len(delivered) >= 10

    # The boundary is one spike's own trough, so both ids occur and "at or below" is checked exactly.
    troughs = sorted(float(np.min(d["waveform"])) for d in delivered)
    boundary = troughs[len(troughs) // 2]

    def predicted_id(waveform):
        return 1 if np.min(waveform) <= boundary else 2

    expected = sorted((f"Sorted {d['electrode']}", d["sample_number"], predicted_id(d["waveform"]))
                      for d in delivered)
    assert {e[2] for e in expected} == {1, 2}

    script = template(pyhost, "spike_example", LARGE_TROUGH_UV=boundary, LARGE_ID=1, SMALL_ID=2,
                      OUTPUT_PREFIX="Sorted ")
    result = pyhost.run(script, input_source=spec)
    instance = assert_ran(result)
    assert instance["spikes_out"] == len(delivered)

    sent_back, waveforms = [], {}
    for spikes in recording(result.output_dir).spikes:
        name = spike_channel_name(spikes)
        assert name.startswith("Sorted Electrode ")
        for sample_number, sorted_id, waveform in zip(spikes.sample_numbers, spikes.clusters, spikes.waveforms):
            sent_back.append((name, int(sample_number), int(sorted_id)))
            waveforms[(name, int(sample_number))] = waveform
    assert sorted(sent_back) == expected
    for d in delivered:
        np.testing.assert_array_equal(waveforms[(f"Sorted {d['electrode']}", d["sample_number"])],
                                      np.asarray(d["waveform"]))


# --- trial_events --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [1000, 64])
def test_trials_end_where_the_trial_line_falls_with_their_mean(pyhost, block):
    spec = f"synthetic:channels=4,rate={RATE},seconds=1,block={block}"
    x = input_microvolts(pyhost, spec)
    script = template(pyhost, "trial_events", TRIAL_LINE=1, CHANNEL=2, OUTPUT_LINE=5)
    result = pyhost.run(script, input_source=spec)
    instance = assert_ran(result)

    trial_line = events_of(result.output_dir, SOURCE_NODE)
    starts, ends = edges(trial_line, 1, 1), edges(trial_line, 1, 0)
    schedule = synthetic_ttl_edges(RATE, RATE)  # the source's table over its one second
    assert starts == [sample for sample, line, state in schedule if line == 1 and state] == [3750, 11250, 18750, 26250]
    assert ends == [sample for sample, line, state in schedule if line == 1 and not state]

    reported = re.findall(r"^trial (\d+): start (\d+), (\d+) samples, mean (\S+) uV on channel 2$", result.stderr,
                          flags=re.M)
    assert [(int(n), int(s), int(d)) for n, s, d, _ in reported] == \
        [(n + 1, s, e - s) for n, (s, e) in enumerate(zip(starts, ends))]
    for (_, _, _, mean), start, end in zip(reported, starts, ends):
        assert float(mean) == pytest.approx(x[start:end, 2].mean(), abs=2e-6)

    output = events_of(result.output_dir, PYTHON_NODE)
    assert edges(output, 5, 1) == ends, "on at each trial's end"
    assert edges(output, 5, 0) == starts[1:], "off at the next trial's start"
    assert instance["events_out"] == len(ends) + len(starts) - 1
