"""Keeps every buffer: the engine must copy instead of handing out reused memory."""


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.kept = []

    def process(self, data):
        self.kept.append(data)
        data += 1.95
