"""Sends every incoming spike back, negated, with sorted id 3."""
import numpy as np


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor

    def process(self, data):
        pass

    def handle_spike(self, source_node, electrode_name, num_channels, num_samples, sample_number, sorted_id,
                     spike_data):
        self.processor.add_python_spike(sample_number, -np.asarray(spike_data), sorted_id=3, electrode="Echo")
