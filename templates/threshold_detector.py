"""Sends a TTL pulse at the exact sample where one channel crosses a threshold.

A crossing of a negative THRESHOLD_UV is a sample i with
x[i-1] > THRESHOLD_UV >= x[i] (the signal goes down through the threshold);
of a positive one, x[i-1] < THRESHOLD_UV <= x[i]. Each crossing turns
OUTPUT_LINE on at sample i, and off PULSE_SAMPLES later if that is still inside
the buffer, otherwise at the first sample of the next buffer (an event can
only be placed inside the buffer being processed). Crossings less than
REFRACTORY_SECONDS after the last detected one are ignored.

Buffer boundaries make no difference: the last sample of each buffer is kept,
so a crossing between two buffers is found at the first sample of the second,
and the refractory period is counted in absolute samples since the start of
acquisition. The very first sample of an acquisition has no predecessor and is
never a crossing.

To adapt it, change the constants below; to detect on something other than
one raw channel (a difference of channels, a filtered signal), change
_crossings().
"""
import numpy as np

import oe_pyprocessor  # noqa: F401  (the embedded module; the GUI provides it)

CHANNEL = 0                 # index of the channel to watch, 0 = first channel of the stream
THRESHOLD_UV = -100.0       # microvolts; negative: downward crossings, positive: upward crossings
REFRACTORY_SECONDS = 0.002  # dead time after each detection
OUTPUT_LINE = 2             # TTL line of the pulses (0-255)
PULSE_SAMPLES = 30          # pulse length in samples (1 ms at 30 kHz); must be shorter than the refractory period


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        if not 0 <= CHANNEL < num_channels:
            raise ValueError(f"CHANNEL is {CHANNEL} but the stream has {num_channels} channels (0 to {num_channels - 1})")
        if THRESHOLD_UV == 0:
            raise ValueError("THRESHOLD_UV must be negative (downward crossings) or positive (upward), not 0")
        self.processor = processor
        self.refractory_samples = max(1, round(REFRACTORY_SECONDS * sample_rate))
        # A new pulse must not start before the previous one has ended.
        if self.refractory_samples <= PULSE_SAMPLES:
            raise ValueError(f"REFRACTORY_SECONDS ({self.refractory_samples} samples at {sample_rate:g} Hz) must be "
                             f"longer than PULSE_SAMPLES ({PULSE_SAMPLES}) so that pulses do not overlap")
        # Compare sign * x with the positive level, so one rule serves both directions.
        self._sign = -1.0 if THRESHOLD_UV < 0 else 1.0
        self.start_acquisition()

    def start_acquisition(self):
        self._buffer_start = 0    # absolute sample number of the current buffer's first sample
        self._previous = np.nan   # last sample of the previous buffer; NaN never makes a crossing
        self._next_allowed = 0    # first absolute sample after the refractory period
        self._off_pending = False  # a pulse that did not fit ends at the next buffer's first sample

    def process(self, data):
        num_samples = data.shape[1]
        if num_samples == 0:
            return
        if self._off_pending:
            self.processor.add_python_event(OUTPUT_LINE, False, 0)
            self._off_pending = False
        for offset in self._crossings(data[CHANNEL]):
            if self._buffer_start + offset >= self._next_allowed:
                self._pulse(int(offset), num_samples)
        self._previous = float(data[CHANNEL, -1])
        self._buffer_start += num_samples

    def _crossings(self, samples):
        """Offsets i in this buffer where the signal reaches the threshold between samples i-1 and i."""
        # float64, so the threshold is not rounded to float32 before comparing.
        signal = self._sign * np.concatenate(([self._previous], samples.astype(np.float64)))
        level = self._sign * THRESHOLD_UV
        return np.flatnonzero((signal[:-1] < level) & (signal[1:] >= level))

    def _pulse(self, offset, num_samples):
        self.processor.add_python_event(OUTPUT_LINE, True, offset)
        self._next_allowed = self._buffer_start + offset + self.refractory_samples
        if offset + PULSE_SAMPLES < num_samples:
            self.processor.add_python_event(OUTPUT_LINE, False, offset + PULSE_SAMPLES)
        else:
            self._off_pending = True
