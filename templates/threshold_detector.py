"""Sends a TTL pulse at the exact sample where one channel crosses a threshold.

A crossing of a negative threshold is a sample i with x[i-1] > threshold >= x[i]
(the signal goes down through it); of a positive one, x[i-1] < threshold <= x[i].
Each crossing turns the output line on at sample i, and off PULSE_SAMPLES
later if that is still inside the buffer, otherwise at the first sample of the
next buffer (an event can only be placed inside the buffer being processed).
Crossings less than the refractory period after the last detected one are
ignored.

The channel, the threshold, the refractory period and the output line are the
module's parameters: controls in the GUI's editor, saved with the signal chain,
settable over the HTTP API and with `oe-pyproc run --param threshold_uv=-80`.
A change takes effect from the next buffer.

Buffer boundaries make no difference: the last sample of each buffer is kept,
so a crossing between two buffers is found at the first sample of the second,
and the refractory period is counted in absolute samples since the start of
acquisition. The very first sample of an acquisition has no predecessor and is
never a crossing.

To detect on something other than one raw channel (a difference of channels,
a filtered signal), change _crossings().

Each buffer it publishes (`oe-pyproc view` plots them live, `oe-pyproc run
--plot` after the run) the buffer's peak in the detection direction, `peak_uv`
(its minimum for a negative threshold, its maximum for a positive one), and
`threshold_uv`: the threshold is crossed where the first reaches the second.
"""
import numpy as np

import oe_pyprocessor as oe

PULSE_SAMPLES = 30  # pulse length in samples (1 ms at 30 kHz); must be shorter than the refractory period


class PyProcessor:
    parameters = [
        oe.Channel("channel", 0, description="the channel to watch"),
        oe.Float("threshold_uv", -100.0, -10000.0, 10000.0, unit="uV",
                 description="negative: downward crossings, positive: upward crossings; not 0"),
        oe.Float("refractory_ms", 2.0, 0.1, 10000.0, unit="ms", description="dead time after each detection"),
        oe.Int("output_line", 2, 0, 255, description="TTL line of the pulses"),
    ]

    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.params = processor.params
        self.sample_rate = sample_rate
        self._configure()
        self.start_acquisition()

    def parameter_changed(self, name, value):
        """A change from the GUI, the HTTP API or --param-at, between two buffers."""
        self._configure()

    def _configure(self):
        if self.params.threshold_uv == 0:
            raise ValueError("threshold_uv must be negative (downward crossings) or positive (upward), not 0")
        self.refractory_samples = max(1, round(self.params.refractory_ms * self.sample_rate / 1000.0))
        # A new pulse must not start before the previous one has ended.
        if self.refractory_samples <= PULSE_SAMPLES:
            raise ValueError(f"refractory_ms ({self.refractory_samples} samples at {self.sample_rate:g} Hz) must be "
                             f"longer than PULSE_SAMPLES ({PULSE_SAMPLES}) so that pulses do not overlap")
        # Compare sign * x with the positive level, so one rule serves both directions.
        self._sign = -1.0 if self.params.threshold_uv < 0 else 1.0

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
            self.processor.add_python_event(self.params.output_line, False, 0)
            self._off_pending = False
        samples = data[self.params.channel]
        for offset in self._crossings(samples):
            if self._buffer_start + offset >= self._next_allowed:
                self._pulse(int(offset), num_samples)
        self.processor.publish("peak_uv", float(self._sign * np.max(self._sign * samples)))
        self.processor.publish("threshold_uv", self.params.threshold_uv)
        self._previous = float(data[self.params.channel, -1])
        self._buffer_start += num_samples

    def _crossings(self, samples):
        """Offsets i in this buffer where the signal reaches the threshold between samples i-1 and i."""
        # float64, so the threshold is not rounded to float32 before comparing.
        signal = self._sign * np.concatenate(([self._previous], samples.astype(np.float64)))
        level = self._sign * self.params.threshold_uv
        return np.flatnonzero((signal[:-1] < level) & (signal[1:] >= level))

    def _pulse(self, offset, num_samples):
        self.processor.add_python_event(self.params.output_line, True, offset)
        self._next_allowed = self._buffer_start + offset + self.refractory_samples
        if offset + PULSE_SAMPLES < num_samples:
            self.processor.add_python_event(self.params.output_line, False, offset + PULSE_SAMPLES)
        else:
            self._off_pending = True
