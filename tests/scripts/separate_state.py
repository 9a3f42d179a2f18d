"""Module-level state: each instance must have its own copy of this module."""
BUFFERS = 0


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor

    def process(self, data):
        global BUFFERS
        BUFFERS += 1
        if BUFFERS == 5:
            self.processor.add_python_event(1, True)
