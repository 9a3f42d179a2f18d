"""noop_module.py that publishes a scalar and a 1,024-float array per buffer: what publishing adds to
process() (engine_overhead.py's "publishing" column)."""
import numpy as np


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.publish = processor.publish
        self.curve = np.linspace(0.0, 1.0, 1024, dtype=np.float32)
        self.calls = 0

    def process(self, data):
        self.calls += 1
        self.publish("scalar", 0.5 * self.calls)
        self.publish("spectrum", self.curve)
