"""The band-power envelope of one channel, recorded with the data as a derived channel.

The chosen channel (the `channel` parameter) is filtered with a Butterworth
band-pass from `low_hz` to `high_hz` (ORDER, its state carried from buffer to
buffer, so the result does not depend on the buffer size), squared, smoothed by
a first-order low-pass with the time constant `smoothing_ms`, and square-rooted:
the band's RMS envelope, in microvolts.

Two derived channels carry the result, sample by sample, in the stream itself:
`envelope` and `threshold` (the `threshold_uv` parameter, constant until you
change it). In the GUI the Record Node records them beside the data, in the same
file and clock, and the LFP Viewer draws them beside the raw traces; at the desk
`oe-pyproc run --output` records them and `--plot` draws them. Where the
envelope rises above the threshold a TTL event turns `output_line` on; where it
falls back below, off.

The default band, 300-3000 Hz, is where spikes have their power; for ripples
choose 150-250 Hz, for gamma 30-80 Hz (with a longer `smoothing_ms`).

A band change starts the filter afresh from the next buffer (its state belongs
to the old band); so does the start of acquisition.
"""
import math

import numpy as np
from scipy import signal

import oe_pyprocessor as oe

ORDER = 3  # scipy.signal.butter's N: 2 * ORDER poles


class PyProcessor:
    parameters = [
        oe.Channel("channel", 0, description="the channel whose band power is computed"),
        oe.Float("low_hz", 300.0, 0.1, 20000.0, unit="Hz", description="the band's lower edge"),
        oe.Float("high_hz", 3000.0, 0.2, 20000.0, unit="Hz", description="the band's upper edge, below half the sample rate"),
        oe.Float("smoothing_ms", 2.0, 0.1, 10000.0, unit="ms", description="the envelope's time constant"),
        oe.Float("threshold_uv", 20.0, 0.0, 10000.0, unit="uV", description="events where the envelope crosses it"),
        oe.Int("output_line", 3, 0, 255, description="TTL line of the events"),
    ]
    derived_channels = [
        oe.Derived("envelope", unit="uV", description="RMS envelope of the band, from the band_power module"),
        oe.Derived("threshold", unit="uV", description="the envelope's threshold"),
    ]

    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor
        self.params = processor.params
        self.sample_rate = sample_rate
        self._design()
        self.start_acquisition()

    def parameter_changed(self, name, value):
        if name in ("low_hz", "high_hz", "smoothing_ms"):
            self._design()
            self.start_acquisition()

    def _design(self):
        low, high, nyquist = self.params.low_hz, self.params.high_hz, self.sample_rate / 2.0
        if not 0 < low < high < nyquist:
            raise ValueError(f"the band must lie within 0-{nyquist:g} Hz (half the sample rate), with low_hz "
                             f"({low:g}) below high_hz ({high:g})")
        self.sos = signal.butter(ORDER, [low, high], btype="bandpass", fs=self.sample_rate, output="sos")
        # The smoothing low-pass: y[n] = y[n-1] + alpha * (x[n] - y[n-1]).
        alpha = 1.0 - math.exp(-1000.0 / (self.params.smoothing_ms * self.sample_rate))
        self.smooth_b, self.smooth_a = np.array([alpha]), np.array([1.0, alpha - 1.0])

    def start_acquisition(self):
        self._band_state = np.zeros((self.sos.shape[0], 2))  # the band-pass's, from rest
        self._smooth_state = np.zeros(1)                     # the smoothed power's
        self._above = False

    def process(self, data):
        if data.shape[1] == 0:
            return
        samples = data[self.params.channel].astype(np.float64)
        band, self._band_state = signal.sosfilt(self.sos, samples, zi=self._band_state)
        power, self._smooth_state = signal.lfilter(self.smooth_b, self.smooth_a, band * band, zi=self._smooth_state)
        envelope = np.sqrt(np.maximum(power, 0.0))
        derived = self.processor.derived
        derived["envelope"][:] = envelope
        derived["threshold"][:] = self.params.threshold_uv
        self._send_crossings(envelope > self.params.threshold_uv)

    def _send_crossings(self, above):
        """A TTL event at each sample where the envelope goes above (on) or below (off) the threshold."""
        changes = np.flatnonzero(np.diff(np.concatenate(([self._above], above)).astype(np.int8)))
        for offset in changes:
            self.processor.add_python_event(self.params.output_line, bool(above[offset]), int(offset))
        self._above = bool(above[-1])
