"""Its PyProcessor's __del__ takes a second (releasing the GIL), while the host tears the chain down:
threads of modules destroyed before it run meanwhile (see thread_inside_call_at_teardown.py)."""
import time


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        pass

    def process(self, data):
        pass

    def __del__(self):
        time.sleep(1.0)
