"""Times, inside process(), a scalar publish, a 1,024-float publish and a scalar publish again, then
numpy copying the same 1,024 floats into a row of a 4 MiB array (the ring's size) for reference.

The first publish of a buffer meets caches that the host's own work on the block has just emptied (at
384 channels even a len() costs microseconds there); the later ones show the publish itself; numpy's
row copy shows what writing 4 KiB to memory that is not in the cache costs anyway. At
stop_acquisition it writes the p50/p99 of each (µs) to the JSON file named by
OE_PYPROC_BENCH_PUBLISH_OUT (engine_overhead.py sets it)."""
import json
import os
import time

import numpy as np


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.curve = np.linspace(0.0, 1.0, 1024, dtype=np.float32)
        self.rows = np.zeros((1024, 1024), dtype=np.float32)
        self.timings = {"scalar, first in the buffer": [], "array_1024": [], "scalar": [],
                        "numpy row copy of 1,024 floats": []}
        self.calls = 0

    def process(self, data):
        self.calls += 1
        publish = self.processor.publish
        clock = time.perf_counter_ns
        started = clock()
        publish("first", 0.5 * self.calls)
        first = clock()
        publish("spectrum", self.curve)
        array = clock()
        publish("scalar", 0.25 * self.calls)
        scalar = clock()
        self.rows[self.calls % 1024] = self.curve
        ended = clock()
        for name, duration in zip(self.timings, (first - started, array - first, scalar - array, ended - scalar)):
            self.timings[name].append(duration)

    def stop_acquisition(self):
        path = os.environ.get("OE_PYPROC_BENCH_PUBLISH_OUT")
        if not path:
            return
        result = {}
        for name, samples in self.timings.items():
            ordered = np.sort(np.array(samples[10:], dtype=np.float64))  # the first calls warm caches up
            result[name] = {"p50_us": float(np.percentile(ordered, 50)) / 1000,
                            "p99_us": float(np.percentile(ordered, 99)) / 1000}
        with open(path, "w") as file:
            json.dump(result, file)
