"""Spikes on electrodes whose names no folder can hold as they are (parameter `name`)."""
import numpy as np
import oe_pyprocessor as oe

NAMES = {"long": "e" * 300, "dots": "..", "dot": ".", "device": "NUL", "separators": "a/b\\c:d", "empty": "",
         "control": "tab\there", "long_utf8": "\u00e9" * 200}


class PyProcessor:
    parameters = [oe.Choice("name", list(NAMES), "long")]

    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.name = NAMES[processor.params.name]
        self.sent = False

    def process(self, data):
        if not self.sent:
            self.processor.add_python_spike(10, np.ones((1, 40), dtype=np.float32), electrode=self.name)
            self.sent = True
