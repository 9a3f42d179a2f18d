"""fresh_data, then shrinks (or grows) `data` in place with refcheck=False: the engine must not read
the buffer past its new end when it copies it back."""
import oe_pyprocessor as oe


class PyProcessor:
    fresh_data = True
    parameters = [oe.Choice("to", ["shrink", "grow"], "shrink")]

    def __init__(self, processor, num_channels, sample_rate):
        self.to = processor.params.to

    def process(self, data):
        rows, cols = data.shape
        data.resize((1, 4) if self.to == "shrink" else (rows, cols * 4), refcheck=False)
