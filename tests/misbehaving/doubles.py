"""Doubles every buffer: the well-behaved twin of the others here (a worker killed from outside)."""


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        pass

    def process(self, data):
        data *= 2
