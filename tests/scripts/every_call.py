"""Uses every per-buffer path of the engine each buffer: events and spikes in, events, spikes and a
published value out (for the audio-thread tests; it keeps nothing that grows)."""
import numpy as np


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.buffers = 0
        self.events_in = 0
        self.spikes_in = 0
        self.waveform = np.zeros((1, 40), dtype=np.float32)

    def process(self, data):
        self.buffers += 1
        self.processor.add_python_event(5, self.buffers % 2 == 0, sample_offset=1)
        if self.buffers % 10 == 0:
            self.processor.add_python_spike(0, self.waveform, sorted_id=1, electrode="Python electrode 1")
        self.processor.publish("buffers", self.buffers)

    def handle_ttl_event(self, source_node, channel, sample_number, line, state):
        self.events_in += 1

    def handle_spike(self, source_node, electrode_name, num_channels, num_samples, sample_number, sorted_id,
                     spike_data):
        self.spikes_in += 1
