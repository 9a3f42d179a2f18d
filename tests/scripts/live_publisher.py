"""Publishes counters for tests/test_live.py, in bursts that wait for the test's go-ahead files.

Parameters: `gate` (folder of the go_<k> / release files; "" = never wait), `bursts` (process() calls
that publish), `burst` (values per call), `image_kib` (publish images of that many KiB instead of
scalars), `hold` (stop_acquisition waits for gate/release, so the ring outlives the run until the test
has read it), `thread` (a thread of the module publishes `thread_count` 0..199 meanwhile), `prefix`."""
import os
import threading
import time

import numpy as np
import oe_pyprocessor as oe


def wait_for(path, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError("the test never created " + path)
        time.sleep(0.001)


class PyProcessor:
    parameters = [
        oe.String("gate", ""),
        oe.Int("bursts", 0, 0, 1000),
        oe.Int("burst", 1, 1, 100000),
        oe.Int("image_kib", 0, 0, 1024),
        oe.Bool("hold", False),
        oe.Bool("thread", False),
        oe.String("prefix", ""),
    ]

    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.params = processor.params
        self.calls = 0
        self.sent = 0
        self.thread = None
        if self.params.thread:
            self.thread = threading.Thread(target=self.publish_from_thread)
            self.thread.start()

    def publish_from_thread(self):
        for value in range(200):
            self.processor.publish(self.params.prefix + "thread_count", value)
            time.sleep(0.0005)

    def process(self, data):
        call = self.calls
        self.calls += 1
        if call >= self.params.bursts:
            return
        if self.params.gate:
            wait_for(os.path.join(self.params.gate, "go_%d" % call))
        for _ in range(self.params.burst):
            if self.params.image_kib:
                self.processor.publish("image", np.full((self.params.image_kib, 256), self.sent, np.float32))
            else:
                self.processor.publish(self.params.prefix + "count", self.sent)
            self.sent += 1

    def stop_acquisition(self):
        if self.thread is not None:
            self.thread.join()
        if self.params.hold:
            wait_for(os.path.join(self.params.gate, "release"))
