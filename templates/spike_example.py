"""Receives spikes and sends them back to the chain with a sorted id.

A deliberately trivial "sorter": every incoming spike is sent back unchanged
(same sample number, same waveform) with a sorted id chosen from the depth of
its trough, the most negative value over all its channels and samples:

    sorted id LARGE_ID if the trough is at or below LARGE_TROUGH_UV,
    sorted id SMALL_ID otherwise.

The spikes go out on an electrode named OUTPUT_PREFIX + the incoming
electrode's name ("Sorted Electrode 1"), so each electrode keeps its own
spike channel downstream and in recordings.

To adapt it, replace _sorted_id() with your own classifier (template matching,
a trained model...). handle_spike() is called before process() for the buffer
the spike belongs to, so keep it quick.
"""
import numpy as np

import oe_pyprocessor  # noqa: F401  (the embedded module; the GUI provides it)

LARGE_TROUGH_UV = -150.0   # troughs at or below this are "large"
LARGE_ID = 1               # sorted ids, 1-65535 (0 means unsorted)
SMALL_ID = 2
OUTPUT_PREFIX = "Sorted "  # prefix of the electrode name the spikes go out on


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor

    def process(self, data):
        pass  # the continuous data pass through unchanged

    def handle_spike(self, source_node, electrode_name, num_channels, num_samples,
                     sample_number, sorted_id, spike_data):
        self.processor.add_python_spike(sample_number, spike_data, sorted_id=self._sorted_id(spike_data),
                                        electrode=OUTPUT_PREFIX + electrode_name)

    @staticmethod
    def _sorted_id(waveform):
        """The id for a waveform (channels x samples, microvolts)."""
        trough = float(np.min(waveform))
        return LARGE_ID if trough <= LARGE_TROUGH_UV else SMALL_ID
