"""Declares OE_PYPROC_BENCH_DERIVED derived channels; with OE_PYPROC_BENCH_DERIVED_WRITE=1 writes channel k's
samples into derived channel k every buffer, else leaves them (the engine's own cost: zeroing and binding)."""
import os

import oe_pyprocessor as oe

COUNT = int(os.environ.get("OE_PYPROC_BENCH_DERIVED", "0"))
WRITE = os.environ.get("OE_PYPROC_BENCH_DERIVED_WRITE") == "1"


class PyProcessor:
    derived_channels = [oe.Derived("derived_%d" % k) for k in range(COUNT)]

    def __init__(self, processor, num_channels, sample_rate):
        self.arrays = [None] * COUNT
        self.derived = processor.derived

    def process(self, data):
        if WRITE:
            for k in range(COUNT):
                self.derived["derived_%d" % k][:] = data[k]
