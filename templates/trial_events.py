"""Per-trial state from TTL events: a trial's mean signal, reported at its end.

A trial starts on a rising edge of TRIAL_LINE and ends on its falling edge;
it holds the samples from the rising edge up to, not including, the falling
edge. During a trial the module sums channel CHANNEL over the trial's samples;
at the end it prints the trial number, its length in samples and the mean in
microvolts, and turns OUTPUT_LINE on at the trial's falling edge. OUTPUT_LINE goes
off again when the next trial starts, so it is high between trials (after the
first one).

TTL events reach handle_ttl_event() before process() is called with the
buffer they fall in; the edges are queued there and handled in process(),
where the data are. Event sample numbers count from the start of acquisition,
so the module counts the samples it has seen to know where each buffer starts.

To adapt it: change the constants; put what a trial should compute in
_accumulate() and _end_trial() (e.g. spike counts from handle_spike, or a
response window after the trial start).
"""
import numpy as np

import oe_pyprocessor  # noqa: F401  (the embedded module; the GUI provides it)

TRIAL_LINE = 1   # TTL line whose high periods are trials (the synthetic source pulses line 1)
CHANNEL = 0      # channel averaged over each trial
OUTPUT_LINE = 5  # turned on at each trial's end, off at the next trial's start


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        if not 0 <= CHANNEL < num_channels:
            raise ValueError(f"CHANNEL is {CHANNEL} but the stream has {num_channels} channels (0 to {num_channels - 1})")
        self.processor = processor
        self.trials_done = 0
        self.start_acquisition()

    def start_acquisition(self):
        # Sample numbers start again from 0; a trial cut short by the stop is dropped.
        self._buffer_start = 0     # absolute sample number of the current buffer's first sample
        self._edges = []           # (sample_number, state) of TRIAL_LINE not handled yet
        self._trial_start = None   # sample number of the running trial's rising edge, None between trials
        self._output_high = False

    def handle_ttl_event(self, source_node, channel, sample_number, line, state):
        if line == TRIAL_LINE:
            self._edges.append((sample_number, bool(state)))

    def process(self, data):
        num_samples = data.shape[1]
        start, end = self._buffer_start, self._buffer_start + num_samples
        edges = sorted(e for e in self._edges if e[0] < end)
        self._edges = [e for e in self._edges if e[0] >= end]
        position = start
        for sample_number, state in edges:
            sample_number = max(sample_number, start)  # a late event counts at the buffer's start
            self._accumulate(data, position - start, sample_number - start)
            position = sample_number
            if state and self._trial_start is None:
                self._start_trial(sample_number, sample_number - start)
            elif not state and self._trial_start is not None:
                self._end_trial(sample_number, sample_number - start)
        self._accumulate(data, position - start, num_samples)
        self._buffer_start = end

    def _start_trial(self, sample_number, offset):
        self._trial_start = sample_number
        self._sum = 0.0
        self._count = 0
        if self._output_high:
            self.processor.add_python_event(OUTPUT_LINE, False, offset)
            self._output_high = False

    def _accumulate(self, data, first, last):
        """Adds the samples [first, last) of this buffer to the running trial, if there is one."""
        if self._trial_start is not None and last > first:
            # float64 sum: float32 would lose precision over long trials.
            self._sum += float(np.sum(data[CHANNEL, first:last], dtype=np.float64))
            self._count += last - first

    def _end_trial(self, sample_number, offset):
        self.trials_done += 1
        duration = sample_number - self._trial_start
        mean = self._sum / self._count if self._count else float("nan")
        print(f"trial {self.trials_done}: start {self._trial_start}, {duration} samples, "
              f"mean {mean:.6f} uV on channel {CHANNEL}", flush=True)
        self.processor.add_python_event(OUTPUT_LINE, True, offset)
        self._output_high = True
        self._trial_start = None
