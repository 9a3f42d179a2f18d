"""Calls os._exit(3) in the buffer numbered `at_buffer`; buffers before it are doubled."""
import os

import oe_pyprocessor


class PyProcessor:
    parameters = [oe_pyprocessor.Int("at_buffer", default=20, min=1, max=1_000_000)]

    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.buffers = 0

    def process(self, data):
        self.buffers += 1
        if self.buffers == self.processor.params.at_buffer:
            os._exit(3)
        data *= 2
