"""Doubles every buffer until the one numbered `at_buffer`, where it misbehaves as `how` says: sleeps 3 s
once, loops forever, reads address 0 through ctypes (a segfault), calls os.abort() or os._exit(3)."""
import ctypes
import os
import time

import oe_pyprocessor


class PyProcessor:
    parameters = [oe_pyprocessor.Int("at_buffer", default=20, min=1, max=1_000_000),
                  oe_pyprocessor.Choice("how", ["stall", "loop", "segfault", "abort", "exit"], "stall")]

    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.buffers = 0

    def process(self, data):
        self.buffers += 1
        if self.buffers == self.processor.params.at_buffer:
            self.misbehave(self.processor.params.how)
        data *= 2

    @staticmethod
    def misbehave(how):
        if how == "stall":
            time.sleep(3)
        while how == "loop":
            pass
        if how == "segfault":
            ctypes.string_at(0)
        if how == "abort":
            os.abort()
        if how == "exit":
            os._exit(3)
