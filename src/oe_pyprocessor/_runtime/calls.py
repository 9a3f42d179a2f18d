"""The processor's calls a module makes (add_python_event, add_python_spike) and process()'s return: every
refusal and warning in words. The engine takes the valid cases on its own fast path and asks here for the
rest; the stand-in asks here for everything."""
import operator

from .common import describe, describe_result

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1

# What help() says of the processor's members, in the engine's module and in the stand-in alike.
API_DOCS = {
    "module": "The Python Processor's link back to the Open Ephys signal chain.",
    "add_python_event": ("Sends a TTL event on `line` (0-255) with `state` (True = on) at `sample_offset` samples into "
                         "the current buffer."),
    "add_python_spike": ("Sends a spike at `sample_number` with `waveform` (channels x samples, microvolts) and an "
                         "optional `sorted_id` (0-65535)."),
    "publish": ("Publishes `value` under `name` for the live viewer, stamped with the current buffer's first sample "
                "number: a number (a strip chart), a 1-D array (a curve, with optional `x`), a 2-D array (an image) "
                "or an (H, W, 3|4) uint8 picture."),
    "derived": ("The module's derived channels (PyProcessor.derived_channels) for the current buffer: a float32 "
                "array of the buffer's length per name, derived['name'] or derived.name; write into it in "
                "process()."),
    "params": "The module's parameters' current values: params.threshold or params['threshold'].",
    "num_channels": "The number of channels in `data`.",
    "sample_rate": "The stream's sample rate in Hz.",
}
NOT_ACQUIRING = ("add_python_event() while not acquiring (from __init__ or stop_acquisition): dropped, as the "
                 "published plugin dropped it")


def as_integer(value, name):
    """VALUE as an int of 64 bits, as the engine reads it (PyIndex_Check, never a float)."""
    if isinstance(value, float) or getattr(type(value), "__index__", None) is None:
        raise TypeError("%s must be an integer, got %s" % (name, describe(value)))
    number = operator.index(value)  # a raising __index__ speaks for itself
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError("%s must be an integer that fits in 64 bits, got %d" % (name, number))
    return number


def in_range(value, name, low, high):
    number = as_integer(value, name)
    if number < low or number > high:
        raise ValueError("%s must be %d-%d, got %d" % (name, low, high, number))
    return number


def as_state(state):
    """What the published plugin's add_python_event(int, bool) accepted (pybind11's bool caster):
    True/False, None (False), and any object whose type defines a truth value (numbers)."""
    if not (state is None or isinstance(state, bool) or getattr(type(state), "__bool__", None) is not None):
        raise TypeError("state must be True/False (or a number or None, read as a bool), got %s" % describe(state))
    return bool(state)


def line_outside_warning(line):
    return ("add_python_event(%d, ...): line %d is outside 0-255, so the event was dropped (the published plugin "
            "sent it on another line)" % (line, line))


def check_electrode(electrode):
    if not isinstance(electrode, str):
        raise TypeError("electrode must be a str, got %s" % describe(electrode))
    return electrode


def waveform_array(waveform):
    """WAVEFORM as a C-contiguous float32 copy, channels x samples, or the error naming what it is."""
    import numpy as np

    try:
        values = np.array(waveform, dtype=np.float32, order="C", copy=True)
    except Exception:
        raise TypeError("waveform must be an array of numbers, got %s" % describe(waveform)) from None
    if values.ndim != 2 or values.shape[0] < 1 or values.shape[1] < 1:
        raise ValueError("waveform must be 2-D (channels x samples), got shape %s; for one channel use "
                         "waveform[np.newaxis, :]" % (tuple(int(n) for n in values.shape),))
    return values


def ignored_return_warning(result, num_channels, num_samples):
    return ("process() returned %s; it is ignored, as the published plugin ignored it (return None, or an ndarray "
            "shaped like data, (%d, %d), to replace the output)" % (describe_result(result), num_channels, num_samples))
