"""Values whose conversions raise (parameter `where`): a fresh_data property, __index__ of an event's
line, __bool__ of its state, __array__ of a published value, and an integer too large for any line."""
import oe_pyprocessor as oe


class Raises:
    def __index__(self):
        raise ArithmeticError("__index__ refused")

    def __bool__(self):
        raise ArithmeticError("__bool__ refused")

    def __array__(self, dtype=None, copy=None):
        raise ArithmeticError("__array__ refused")


class PyProcessor:
    parameters = [oe.Choice("where", ["fresh_data", "index", "bool", "array", "huge_line"], "fresh_data")]

    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.where = processor.params.where

    @property
    def fresh_data(self):
        if self.where == "fresh_data":
            raise ArithmeticError("fresh_data refused")
        return False

    def process(self, data):
        if self.where == "index":
            self.processor.add_python_event(Raises(), True)
        elif self.where == "bool":
            self.processor.add_python_event(1, Raises())
        elif self.where == "array":
            self.processor.publish("value", Raises())
        elif self.where == "huge_line":
            self.processor.add_python_event(2 ** 64, True)
