"""Per buffer: line 3 on at sample 7, off at sample 7 + buffer index; line 0 (published call) at the start."""


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.buffers = 0

    def process(self, data):
        self.processor.add_python_event(3, True, sample_offset=7)
        self.processor.add_python_event(3, False, 7 + self.buffers)
        self.processor.add_python_event(0, self.buffers % 2 == 0)
        self.buffers += 1
