"""noop_module.py that publishes a scalar and a 1,024-float array per buffer, timing each publish.

At stop_acquisition it writes the p50/p99 of one publish (ns) to the JSON file named by
OE_PYPROC_BENCH_PUBLISH_OUT (engine_overhead.py sets it)."""
import json
import os
import time

import numpy as np


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.curve = np.linspace(0.0, 1.0, 1024, dtype=np.float32)
        self.scalar_ns = []
        self.array_ns = []
        self.calls = 0

    def process(self, data):
        self.calls += 1
        publish = self.processor.publish
        started = time.perf_counter_ns()
        publish("scalar", 0.5 * self.calls)
        between = time.perf_counter_ns()
        publish("spectrum", self.curve)
        ended = time.perf_counter_ns()
        self.scalar_ns.append(between - started)
        self.array_ns.append(ended - between)

    def stop_acquisition(self):
        path = os.environ.get("OE_PYPROC_BENCH_PUBLISH_OUT")
        if not path:
            return
        result = {}
        for name, samples in (("scalar", self.scalar_ns), ("array_1024", self.array_ns)):
            ordered = np.sort(np.array(samples[10:], dtype=np.float64))  # the first calls warm caches up
            result[name] = {"p50_us": float(np.percentile(ordered, 50)) / 1000,
                            "p99_us": float(np.percentile(ordered, 99)) / 1000}
        with open(path, "w") as file:
            json.dump(result, file)
