"""Module parameters at the desk: declared in the module, set with --param, changed with --param-at,
through the real host and engine (and the stand-in's run_module)."""
import json

import numpy as np
import pytest

from conftest import continuous_int16


@pytest.fixture
def pyhost(pyhost_each_mode):
    """Every test here runs in-process and isolated: a module sees no difference."""
    return pyhost_each_mode

SYNTHETIC = "synthetic:channels=8,rate=30000,seconds=0.5,block=1000"  # 15 buffers of 1000 samples

SCALER = '''
import json, os
import oe_pyprocessor as oe

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parameters.jsonl")


def log(**entry):
    with open(LOG, "a") as out:
        out.write(json.dumps(entry) + "\\n")


class PyProcessor:
    """Scales one channel by `gain`; `parameter_changed` logs each change."""
    parameters = [
        oe.Float("gain", 1.0, 0.0, 10.0, unit="x", description="factor for the channel"),
        oe.Channel("channel", 2, description="the channel to scale"),
        oe.Bool("enabled", True, description="scale at all"),
        oe.Choice("mode", ["scale", "mute"], "scale", description="what to do"),
        oe.Int("every", 1, 1, 100, description="scale every Nth buffer"),
        oe.String("label", "a", description="free text"),
    ]

    def __init__(self, processor, num_channels, sample_rate):
        self.params = processor.params
        log(call="__init__", values=dict(self.params.items()))

    def parameter_changed(self, name, value):
        log(call="parameter_changed", name=name, value=value, now=self.params[name])
        if self.params.label == "raise":
            raise RuntimeError("the change callback raised")

    def process(self, data):
        if self.params.enabled:
            data[self.params.channel] *= self.params.gain if self.params.mode == "scale" else 0.0
'''


@pytest.fixture
def scaler(pyhost):
    return pyhost.script("scaler.py", SCALER)


def logged(script):
    return [json.loads(line) for line in (script.parent / "parameters.jsonl").read_text().splitlines()]


def scaled_by(result, reference, factors):
    """The output equals the reference with channel 2 of buffer k multiplied by factors[k]."""
    out, ref = continuous_int16(result.output_dir).astype(float), continuous_int16(reference.output_dir).astype(float)
    expected = ref.copy()
    expected[:, 2] *= np.repeat(factors, 1000)
    return np.abs(out - expected).max() <= 1


@pytest.fixture
def reference(pyhost):
    return pyhost.run(pyhost.script("passthrough.py"), input_source=SYNTHETIC)


def test_defaults_reach_the_module_and_the_summary(pyhost, scaler, reference):
    result = pyhost.run(scaler, input_source=SYNTHETIC)
    assert result.returncode == 0, result.stderr
    defaults = {"gain": 1.0, "channel": 2, "enabled": True, "mode": "scale", "every": 1, "label": "a"}
    assert logged(scaler) == [{"call": "__init__", "values": defaults}]
    assert result.summary["instances"][0]["parameters"] == defaults
    assert scaled_by(result, reference, [1.0] * 15)


def test_param_sets_values_before_init(pyhost, scaler, reference):
    result = pyhost.run(scaler, input_source=SYNTHETIC, extra=["--param", "gain=2.5", "--param", "enabled=true"])
    assert result.returncode == 0, result.stderr
    assert logged(scaler)[0]["values"]["gain"] == 2.5
    assert scaled_by(result, reference, [2.5] * 15)


def test_param_at_changes_between_two_buffers(pyhost, scaler, reference):
    result = pyhost.run(scaler, input_source=SYNTHETIC, extra=["--param-at", "6:gain=3", "--param-at", "12:mode=mute"])
    assert result.returncode == 0, result.stderr
    # Before the 6th buffer (samples 5000 on) the gain is 3; before the 12th the channel is muted.
    assert scaled_by(result, reference, [1.0] * 5 + [3.0] * 6 + [0.0] * 4)
    changes = [(entry["name"], entry["value"], entry["now"]) for entry in logged(scaler)[1:]]
    assert changes == [("gain", 3.0, 3.0), ("mode", "mute", "mute")]
    assert result.summary["instances"][0]["parameters"]["gain"] == 3.0


@pytest.mark.parametrize("flag, message", [
    (["--param", "gain=20"], "gain: value str '20' is not allowed; a number from 0 to 10 x"),
    (["--param", "gain=loud"], "gain: value str 'loud' is not allowed; a number from 0 to 10 x"),
    (["--param", "channel=8"], "channel: value str '8' is not allowed; a channel index from 0 to 7"),
    (["--param-at", "3:mode=double"], "mode: value str 'double' is not allowed; one of scale, mute"),
    (["--param-at", "3:every=1.5"], "every: value float 1.5 is not allowed; an integer from 1 to 100"),
    (["--param", "volume=2"], "no module declares a parameter 'volume'"),
    (["--param", "gain"], "--param needs NAME=VALUE, got 'gain'"),
])
def test_bad_values_are_refused_with_the_parameter_and_the_allowed_values(pyhost, scaler, flag, message):
    result = pyhost.run(scaler, input_source=SYNTHETIC, output=False, extra=flag)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_raising_change_callback_leaves_the_data_passing_through(pyhost, scaler, reference):
    result = pyhost.run(scaler, input_source=SYNTHETIC, extra=["--param", "gain=2", "--param-at", "4:label=raise"])
    assert result.returncode == 1
    instance = result.summary["instances"][0]
    assert instance["state"] == "errored" and "the change callback raised" in instance["error"]
    assert "parameter_changed()" in instance["error"]
    assert scaled_by(result, reference, [2.0] * 3 + [1.0] * 12)


def test_reload_keeps_the_values(pyhost, scaler, reference):
    result = pyhost.run(scaler, input_source=SYNTHETIC,
                        extra=["--param", "gain=2", "--param-at", "3:channel=2", "--param-at", "4:gain=4",
                               "--reload-at", "8"])
    assert result.returncode == 0, result.stderr
    inits = [entry["values"]["gain"] for entry in logged(scaler) if entry["call"] == "__init__"]
    assert inits == [2.0, 4.0]  # the value set before the reload, given to the new __init__
    assert scaled_by(result, reference, [2.0] * 3 + [4.0] * 12)


def test_the_stand_in_runs_parameters_as_the_host_does(tmp_path):
    from oe_pyprocessor import ParameterError
    from oe_pyprocessor.testing import load_module, run_module

    path = tmp_path / "scaler.py"
    path.write_text(SCALER)
    data = np.ones((4, 5000), dtype=np.float32)
    result = run_module(load_module(path), data, 30000.0, block_size=1000, params={"gain": "2"},
                        param_changes={3: {"gain": 5.0}})
    assert result.processor.params.gain == 5.0
    np.testing.assert_array_equal(result.output[2], np.repeat([2.0, 2.0, 5.0, 5.0, 5.0], 1000))
    with pytest.raises(ParameterError, match="gain: value float 11.0 is not allowed; a number from 0 to 10 x"):
        run_module(load_module(path), data, 30000.0, param_changes={1: {"gain": 11.0}})


def test_a_channel_default_past_the_streams_channels_falls_back_to_the_first_with_a_warning(pyhost):
    source = ("import oe_pyprocessor as oe\n\nclass PyProcessor:\n"
              "    parameters = [oe.Channel('reference', 8, description='a channel of a bigger probe')]\n\n"
              "    def __init__(self, processor, num_channels, sample_rate):\n        self.params = processor.params\n\n"
              "    def process(self, data):\n        data -= data[self.params.reference]\n")
    result = pyhost.run(pyhost.script("reference.py", source), input_source="synthetic:channels=4,rate=30000,"
                        "seconds=0.1,block=1000", output=False)
    assert result.returncode == 0, result.stderr
    instance = result.summary["instances"][0]
    assert instance["parameters"] == {"reference": 0}
    assert "reference: default channel 8 is not in this stream (channels 0 to 3); using 0" in instance["warnings"]
