"""Publishes, for every buffer: "calls", how many times process() ran (1, 2, 3...), "samples", the
buffer's length, and "mean0", the mean of channel 0 (in float64)."""
import numpy as np


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.calls = 0

    def process(self, data):
        self.calls += 1
        self.processor.publish("calls", self.calls)
        self.processor.publish("samples", data.shape[1])
        self.processor.publish("mean0", float(np.mean(data[0], dtype=np.float64)))
