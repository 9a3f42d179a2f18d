"""noop_module.py with six declared parameters: what having parameters costs the engine per buffer."""
import oe_pyprocessor as oe


class PyProcessor:
    parameters = [
        oe.Float("gain", 1.0, 0.0, 10.0),
        oe.Int("every", 1, 1, 100),
        oe.Bool("enabled", True),
        oe.Choice("mode", ["a", "b"]),
        oe.String("label", ""),
        oe.Channel("channel", 0),
    ]

    def __init__(self, processor, num_channels, sample_rate):
        pass

    def process(self, data):
        pass
