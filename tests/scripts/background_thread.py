"""A thread that runs between calls: proves the GIL is released between buffers."""
import threading
import time


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.ticks = 0
        self.running = True
        self.thread = threading.Thread(target=self.tick, daemon=True)
        self.thread.start()

    def tick(self):
        while self.running:
            self.ticks += 1
            time.sleep(0.001)

    def process(self, data):
        time.sleep(0.002)

    def stop_acquisition(self):
        ticks_before = self.ticks
        time.sleep(0.05)
        self.running = False
        self.thread.join()
        # line 9 goes on if the thread advanced while the host held no GIL
        self.processor.add_python_event(9, self.ticks > ticks_before and ticks_before > 0)
