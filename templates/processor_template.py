"""A Python Processor module: copy this file and fill in the methods you need.

Runs unchanged in the published Python Processor plugin. Only __init__ and
process are required; every other method may be deleted.
"""
import numpy as np  # noqa: F401  (most modules need it)
import oe_pyprocessor  # noqa: F401  (the embedded module; the GUI provides it)


class PyProcessor:
    # Uncomment if process() needs a C-contiguous array (data.shape = ..., memoryview(data).cast,
    # socket.send(data), data.ctypes, Cython float[:, ::1], numba ::1): each buffer is then a
    # fresh copy, as the published plugin passed it. Without it `data` is a view on the chain's
    # buffer, with gaps between channels in the GUI.
    # fresh_data = True

    # Settings of the module: each becomes a control in the GUI's editor, is saved with the signal
    # chain, and is read and set over the HTTP API and with `oe-pyproc run --param NAME=VALUE`.
    # Read them anywhere as self.processor.params.gain (or params["gain"]).
    # parameters = [
    #     oe_pyprocessor.Float("gain", 1.0, 0.0, 10.0, unit="x", description="output gain"),
    #     oe_pyprocessor.Int("every", 1, 1, 100, description="every Nth buffer"),
    #     oe_pyprocessor.Bool("enabled", True, description="on or off"),
    #     oe_pyprocessor.Choice("mode", ["rising", "falling"], "rising", description="one of these"),
    #     oe_pyprocessor.String("label", "", description="free text"),
    #     oe_pyprocessor.Channel("channel", 0, description="a row of data, shown by channel name"),
    # ]

    def __init__(self, processor, num_channels, sample_rate):
        """Called when the module is loaded and whenever the stream changes.

        processor: sends events (and spikes) back to the signal chain:
            processor.add_python_event(line, state[, sample_offset])
            processor.add_python_spike(sample_number, waveform[, sorted_id])
        num_channels (int): channels in the selected stream.
        sample_rate (float): samples per second of the selected stream.
        """
        self.processor = processor
        self.num_channels = num_channels
        self.sample_rate = sample_rate

    def process(self, data):
        """Called for every buffer.

        data: float32 array, channels x samples, in microvolts. Edit it in
        place (data[:] = ..., data *= ...) or return a new array of the same
        shape; assigning a new array to `data` does not reach the chain.
        Keeping `data` (or rows of it) for later is safe; data.copy() keeps
        the engine copy-free.
        """
        pass

    def parameter_changed(self, name, value):
        """Called between two buffers when a parameter changed (the GUI, the HTTP API, --param-at);
        self.processor.params already holds the new value."""

    def start_acquisition(self):
        """Called when acquisition starts."""

    def stop_acquisition(self):
        """Called when acquisition stops."""

    def start_recording(self, recording_dir):
        """Called when recording starts; recording_dir (str) is where the data go."""

    def stop_recording(self):
        """Called when recording stops."""

    def handle_ttl_event(self, source_node, channel, sample_number, line, state):
        """Called for each TTL event of the selected stream.

        source_node (int): id of the processor that made the event.
        channel (str): name of the event channel.
        sample_number (int): sample at which the event happened.
        line (int): TTL line, 0-255.
        state (bool): True for on, False for off.
        """

    def handle_spike(self, source_node, electrode_name, num_channels, num_samples,
                     sample_number, sorted_id, spike_data):
        """Called for each spike of the selected stream.

        spike_data: float32 array, num_channels x num_samples, in microvolts.
        """
