"""A module that does nothing: what remains is the engine's own cost."""


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        pass

    def process(self, data):
        pass
