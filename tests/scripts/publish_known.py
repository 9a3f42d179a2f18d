"""Publishes known values for the viewer's test (tests/test_viewer.py), paced so a page can watch.

Each buffer: "sine" = sin(2 pi FREQUENCY s / rate), s the buffer's first sample; every 10th buffer
also "ramp" (RAMP, an image), "picture" (PICTURE, RGBA) and "curve" (CURVE_Y over CURVE_X); every
50th buffer sends line 5 on at its first sample and off SENT_OFFSET samples later.
Sleeps PACE seconds per buffer (about real time at 1000 Hz, 20-sample buffers) until a file named
`stop` appears beside this one or LIMIT seconds passed, then runs through the rest at full speed.
"""
import os
import time

import numpy as np

FREQUENCY = 0.5
PACE = 0.02
LIMIT = 90.0
SENT_OFFSET = 3
RAMP = np.outer(np.arange(12), np.arange(16)).astype(np.float32)
CURVE_X = np.linspace(0.0, 50.0, 51, dtype=np.float32)
CURVE_Y = np.sqrt(CURVE_X)
rows, columns = np.mgrid[0:48, 0:64]
PICTURE = np.stack([columns * 4, rows * 5, np.full_like(rows, 128), np.full_like(rows, 255)], axis=-1).astype(np.uint8)
STOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stop")


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.rate = sample_rate
        self.sample = 0  # the first sample of the next buffer: the host's stream starts at 0
        self.buffers = 0
        self.paced_until = time.monotonic() + LIMIT

    def process(self, data):
        publish = self.processor.publish
        publish("sine", np.sin(2 * np.pi * FREQUENCY * self.sample / self.rate))
        if self.buffers % 10 == 0:
            publish("ramp", RAMP)
            publish("picture", PICTURE)
            publish("curve", CURVE_Y, x=CURVE_X)
        if self.buffers % 50 == 0:
            self.processor.add_python_event(5, True)
            self.processor.add_python_event(5, False, sample_offset=SENT_OFFSET)
        self.sample += data.shape[1]
        self.buffers += 1
        if time.monotonic() < self.paced_until and not os.path.exists(STOP):
            time.sleep(PACE)

    def handle_ttl_event(self, source_node, channel, sample_number, line, state):
        pass
