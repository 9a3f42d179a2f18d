"""Declares a float, a bool and a choice; scales every channel by `gain` (or mutes them) and logs its
__init__ values and each change, with the sample number it applies from, to parameters.jsonl."""
import json
import os

import oe_pyprocessor as oe

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parameters.jsonl")


def log(**entry):
    with open(LOG, "a") as out:
        out.write(json.dumps(entry) + "\n")


class PyProcessor:
    parameters = [
        oe.Float("gain", 1.0, 0.0, 10.0, unit="x", description="factor for every channel"),
        oe.Bool("enabled", True, description="scale at all"),
        oe.Choice("mode", ["scale", "mute"], "scale", description="scale, or mute every channel"),
    ]

    def __init__(self, processor, num_channels, sample_rate):
        self.params = processor.params
        self.seen = 0
        log(call="__init__", values=dict(self.params.items()))

    def start_acquisition(self):
        self.seen = 0

    def parameter_changed(self, name, value):
        log(call="parameter_changed", name=name, value=value, from_sample=self.seen)

    def process(self, data):
        if self.params.enabled:
            data *= self.params.gain if self.params.mode == "scale" else 0.0
        self.seen += data.shape[1]
