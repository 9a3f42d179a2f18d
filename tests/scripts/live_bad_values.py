"""Publishes values the ring refuses, in __init__, and writes what each raised to the file `out`."""
import json

import numpy as np
import oe_pyprocessor as oe

BAD = [
    ("a string", lambda p: p.publish("text", "a string")),
    ("a 3-D array", lambda p: p.publish("cube", np.zeros((2, 3, 5)))),
    ("a 3-D float picture", lambda p: p.publish("cube", np.zeros((2, 3, 4)))),
    ("None", lambda p: p.publish("nothing", None)),
    ("complex", lambda p: p.publish("complex", np.ones(3, dtype=complex))),
    ("an empty array", lambda p: p.publish("empty", np.zeros(0))),
    ("a name that is not a str", lambda p: p.publish(7, 1.0)),
    ("an empty name", lambda p: p.publish("", 1.0)),
    ("a name of 64 bytes", lambda p: p.publish("n" * 64, 1.0)),
    ("x for a scalar", lambda p: p.publish("scalar_x", 1.0, x=[1.0])),
    ("x of another length", lambda p: p.publish("curve_x", np.zeros(4), x=np.arange(3))),
    ("x that is text", lambda p: p.publish("curve_text_x", np.zeros(2), x=["a", "b"])),
    ("another kind for a name", lambda p: (p.publish("kept", 1.0), p.publish("kept", np.zeros(3)))),
]


class PyProcessor:
    parameters = [oe.String("out", "")]

    def __init__(self, processor, num_channels, sample_rate):
        raised = {}
        for label, call in BAD:
            try:
                call(processor)
                raised[label] = None
            except Exception as error:  # what the module sees is the point here
                raised[label] = "%s: %s" % (type(error).__name__, error)
        with open(processor.params.out, "w") as file:
            json.dump(raised, file, indent=1)

    def process(self, data):
        pass
