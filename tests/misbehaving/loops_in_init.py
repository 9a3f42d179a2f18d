"""Never finishes __init__."""


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        while True:
            pass

    def process(self, data):
        data *= 2
