"""A thread of the module is inside publish / add_python_event / add_python_spike, in Python code the
call runs (a value's __array__ or __index__), when the instance is destroyed; it resumes afterwards.
Parameter `call` picks the call. Run before lingers_at_teardown.py in a chain: its __del__ holds the
host's teardown long enough for this thread to resume first."""
import threading
import time

import numpy as np
import oe_pyprocessor as oe

RESUME_AFTER = 0.3


class SlowValue:
    """Releases the GIL inside the engine's conversion, once the run is over."""

    def __init__(self, owner):
        self.owner = owner

    def __array__(self, dtype=None, copy=None):
        if self.owner.stopping.is_set():
            time.sleep(RESUME_AFTER)
        return np.ones((1, 8), dtype=np.float32)

    def __index__(self):
        if self.owner.stopping.is_set():
            time.sleep(RESUME_AFTER)
        return 1


class PyProcessor:
    parameters = [oe.Choice("call", ["publish", "event", "spike", "none"], "publish")]

    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.stopping = threading.Event()
        self.call = processor.params.call
        if self.call != "none":
            threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        value = SlowValue(self)
        while True:
            try:
                if self.call == "publish":
                    self.processor.publish("slow", value)
                elif self.call == "event":
                    self.processor.add_python_event(value, True)
                else:
                    self.processor.add_python_spike(value, value)
            except RuntimeError as error:  # the processor is gone: told in words
                print("module thread told:", error, flush=True)
                return
            time.sleep(0.001)

    def process(self, data):
        pass

    def stop_acquisition(self):
        self.stopping.set()
