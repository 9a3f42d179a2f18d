"""Writes two derived channels each buffer, in place: the allocation test's derived path."""
import oe_pyprocessor as oe


class PyProcessor:
    derived_channels = [oe.Derived("first", unit="uV"), oe.Derived("second")]

    def __init__(self, processor, num_channels, sample_rate):
        self.derived = processor.derived

    def process(self, data):
        self.derived["first"][:] = data[0]
        self.derived.second.fill(1.5)
