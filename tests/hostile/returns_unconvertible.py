"""process() returns an array shaped like data that has no float32 form (parameter `kind`: strings,
records, objects); the published plugin ignored return values, so data must pass through."""
import numpy as np
import oe_pyprocessor as oe


class PyProcessor:
    parameters = [oe.Choice("kind", ["strings", "records", "objects", "complex"], "strings")]

    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor

    def process(self, data):
        kind = self.processor.params.kind
        if kind == "strings":
            return np.full(data.shape, "not a number")
        if kind == "records":
            return np.zeros(data.shape, dtype=[("a", "f4"), ("b", "i4")])
        if kind == "objects":
            return np.full(data.shape, object())
        return data * 1j
