"""Butterworth bandpass filter on every channel, continuous across buffers.

Filters each channel with an ORDER-th order Butterworth bandpass from LOW_HZ to
HIGH_HZ (second-order sections, scipy.signal.sosfilt) and writes the result
into `data` in place. To adapt it, change the three constants below; for a
highpass or lowpass, change `btype` and pass a single cutoff in __init__.

The filter's state (`zi`, one per channel) is carried from each buffer to the
next, so the output filtered buffer by buffer is the same as filtering the
whole recording at once with sosfilt, whatever the buffer size.

The published plugin's bandpass example called sosfilt on every buffer
without passing its state on: each buffer started the filter from rest, as if
the signal had been zero until that buffer's first sample. An IIR filter's
output depends on all past input, so this is a different filter: every buffer
begins with a transient (the filter's response to a step from zero to the
signal's current value) that here rings for a few milliseconds, an artefact
repeating at the buffer rate (about 30 times a second at 30 kHz with 1024
samples per buffer) that looks like real high-frequency activity and changes
when the buffer size changes.

The state starts as the filter's steady state for a constant input equal to
each channel's first sample (sosfilt_zi), so an electrode's DC offset does not
make the filter ring when acquisition starts; it is set again at every start
of acquisition, since the data before it are gone.
"""
import numpy as np
from scipy import signal

import oe_pyprocessor  # noqa: F401  (the embedded module; the GUI provides it)

# Pass band in Hz and filter order: 300-6000 Hz keeps spikes and removes the
# LFP. HIGH_HZ must be below half the sample rate. ORDER is scipy.signal.butter's
# N: the bandpass has 2 * ORDER poles, in ORDER second-order sections.
LOW_HZ = 300.0
HIGH_HZ = 6000.0
ORDER = 4


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        nyquist = sample_rate / 2.0
        if not 0 < LOW_HZ < HIGH_HZ:
            raise ValueError(f"LOW_HZ ({LOW_HZ} Hz) must be above 0 and below HIGH_HZ ({HIGH_HZ} Hz)")
        if HIGH_HZ >= nyquist:
            raise ValueError(
                f"the sample rate of {sample_rate:g} Hz is too low for HIGH_HZ = {HIGH_HZ:g} Hz: a filter can only "
                f"pass frequencies below half the sample rate ({nyquist:g} Hz); lower HIGH_HZ or use a stream "
                f"sampled above {2 * HIGH_HZ:g} Hz")
        self.sos = signal.butter(ORDER, [LOW_HZ, HIGH_HZ], btype="bandpass", fs=sample_rate, output="sos")
        # Steady-state response to a constant input of 1, one (sections x 2) block.
        self._unit_zi = signal.sosfilt_zi(self.sos)
        self._zi = None  # (sections, channels, 2), set from the first buffer

    def process(self, data):
        if self._zi is None:
            self._zi = self._initial_state(data[:, 0])
        # sosfilt computes in float64 (the type of sos and zi); the state stays
        # float64 so that rounding does not accumulate from buffer to buffer.
        filtered, self._zi = signal.sosfilt(self.sos, data, axis=1, zi=self._zi)
        data[:] = filtered

    def start_acquisition(self):
        # The samples before this start are not the ones the state remembers.
        self._zi = None

    def _initial_state(self, first_samples):
        """Steady state for each channel held at its first sample."""
        return self._unit_zi[:, np.newaxis, :] * first_samples.astype(np.float64)[np.newaxis, :, np.newaxis]
