"""A thread started by __init__ keeps sending events; the host reloads the module (--reload-at): the old
load's thread must be told its processor is gone, and must not slow the new load down."""
import threading
import time


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        threading.Thread(target=self.send, daemon=True).start()

    def send(self):
        while True:
            try:
                self.processor.add_python_event(2, True)
            except RuntimeError as error:
                print("old thread told:", error, flush=True)
                return
            time.sleep(0.0005)

    def process(self, data):
        pass
