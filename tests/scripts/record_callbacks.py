"""Logs every callback with its arguments to calls.jsonl beside this file."""
import json
import os

import numpy as np
import oe_pyprocessor

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.jsonl")


def log(name, **arguments):
    with open(LOG, "a") as out:
        out.write(json.dumps({"call": name, **arguments}) + "\n")


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        log("__init__", module_name=__name__,
            types={"num_channels": type(num_channels).__name__, "sample_rate": type(sample_rate).__name__},
            processor_type=type(processor).__name__,
            is_embedded_type=isinstance(processor, oe_pyprocessor.PythonProcessor),
            num_channels=num_channels, sample_rate=sample_rate)

    def process(self, data):
        log("process", shape=list(data.shape), dtype=str(data.dtype), strides=list(data.strides),
            writeable=bool(data.flags.writeable), first=float(data[0, 0]),
            base=type(data.base).__name__, c_contiguous=bool(data.flags.c_contiguous))

    def start_acquisition(self):
        log("start_acquisition")

    def stop_acquisition(self):
        log("stop_acquisition")

    def start_recording(self, recording_dir):
        log("start_recording", recording_dir=recording_dir, type=type(recording_dir).__name__)

    def stop_recording(self):
        log("stop_recording")

    def handle_ttl_event(self, source_node, channel, sample_number, line, state):
        arguments = dict(source_node=source_node, channel=channel, sample_number=sample_number, line=line,
                         state=state)
        log("handle_ttl_event", **arguments, types={name: type(value).__name__ for name, value in arguments.items()})

    def handle_spike(self, source_node, electrode_name, num_channels, num_samples, sample_number, sorted_id,
                     spike_data):
        arguments = dict(source_node=source_node, electrode_name=electrode_name, num_channels=num_channels,
                         num_samples=num_samples, sample_number=sample_number, sorted_id=sorted_id)
        log("handle_spike", **arguments, types={name: type(value).__name__ for name, value in arguments.items()},
            data_type=type(spike_data).__name__, shape=list(np.shape(spike_data)), dtype=str(spike_data.dtype),
            peak=float(np.min(spike_data)), waveform=np.asarray(spike_data).tolist())
