"""Keeps a row of every buffer to analyse later, as modules written for the published plugin do, and
writes kept.json beside itself at the end: for each buffer, whether the kept row still equals a copy
made at the time, and the length and C-contiguity of `data`."""
import json
import os

import numpy as np


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.rows, self.copies, self.lengths, self.contiguous = [], [], [], []

    def process(self, data):
        data += 1.95
        self.rows.append(data[3])
        self.copies.append(data[3].copy())
        self.lengths.append(data.shape[1])
        self.contiguous.append(bool(data.flags.c_contiguous))

    def stop_acquisition(self):
        same = [bool(np.array_equal(row, copy)) for row, copy in zip(self.rows, self.copies)]
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "kept.json"), "w") as out:
            json.dump({"same": same, "lengths": self.lengths, "contiguous": self.contiguous}, out)
