print("hello from the module")


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        print("constructed with", num_channels, "channels")

    def process(self, data):
        print("a buffer")
