"""A thread that runs between calls: proves the GIL is released between buffers."""
import json
import os
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
        # True if the thread advanced while the host held no GIL
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "thread_ran.json"), "w") as out:
            json.dump(self.ticks > ticks_before and ticks_before > 0, out)
