"""Derived channels: continuous channels a module adds to its stream (docs/derived.md)."""
from .common import declared_list, describe, is_number



MAX_DERIVED = 1024


class Derived:
    """A continuous channel the module adds to its stream, recorded with the data and shown in the GUI's
    viewers: Derived("theta_power", unit="uV^2", description="...", bit_volts=None). `bit_volts` is what one
    step of the Record Node's int16 is worth (default: the stream's first channel's)."""

    def __init__(self, name, unit="", description="", bit_volts=None):
        if not isinstance(name, str) or not name.strip() or "\0" in name or len(name.encode("utf-8", "replace")) > 255:
            raise ValueError("a derived channel's name must be a non-empty str of at most 255 bytes, got %s"
                             % describe(name))
        for field, value in (("unit", unit), ("description", description)):
            if not isinstance(value, str):
                raise TypeError("derived channel %r: %s must be a str, got %s" % (name, field, describe(value)))
        if bit_volts is not None and not (is_number(bit_volts) and 0 < float(bit_volts) < float("inf")):
            raise ValueError("derived channel %r: bit_volts must be a positive number (what one int16 step of the "
                             "recording is worth), got %s" % (name, describe(bit_volts)))
        self.name, self.unit, self.description = name, unit, description
        self.bit_volts = None if bit_volts is None else float(bit_volts)

    def declaration(self, default_bit_volts):
        return {"name": self.name, "unit": self.unit, "description": self.description,
                "bit_volts": self.bit_volts if self.bit_volts is not None else default_bit_volts}

    def __repr__(self):
        return "Derived(%r, unit=%r)" % (self.name, self.unit)


def declared_derived(processor, channel_names=(), default_bit_volts=0.0):
    """The module's `derived_channels` (set in __init__, or the class's), checked against the stream's
    channel names: [{"name", "unit", "description", "bit_volts"}]; raises naming what cannot be used."""
    declared = declared_list(processor, "derived_channels", Derived, ValueError, "derived channel",
                              "oe_pyprocessor.Derived", "oe_pyprocessor.Derived(name, unit=..., description=...)")
    if len(declared) > MAX_DERIVED:
        raise ValueError("PyProcessor.derived_channels declares %d channels; at most %d" % (len(declared), MAX_DERIVED))
    inputs = set(channel_names)
    for item in declared:
        if item.name in inputs:
            raise ValueError("derived channel %r has the name of one of the stream's channels; choose another"
                             % item.name)
    bit_volts = float(default_bit_volts) if default_bit_volts and default_bit_volts > 0 else 1.0
    return [item.declaration(bit_volts) for item in declared]


def derived_json(declarations):
    import json

    return json.dumps({"known": True, "channels": declarations})


class DerivedChannels:
    """`processor.derived`: each derived channel's samples for the current buffer, a writable float32 1-D
    array of the buffer's length, by name (`derived["theta"]`, `derived.theta`). Write into it
    (`derived["theta"][:] = values`) during process(); what is not written stays 0."""

    __slots__ = ("_arrays",)

    def __init__(self, names=()):
        import numpy as np

        empty = np.zeros(0, dtype=np.float32)
        object.__setattr__(self, "_arrays", {name: empty for name in names})

    def _unknown(self, name):
        return "no derived channel %r; declared: %s (PyProcessor.derived_channels)" % (
            name, ", ".join(self._arrays) or "none")

    def __getitem__(self, name):
        try:
            return self._arrays[name]
        except (KeyError, TypeError):
            raise KeyError(self._unknown(name)) from None

    def __getattr__(self, name):
        try:
            return self._arrays[name]
        except KeyError:
            raise AttributeError(self._unknown(name)) from None

    def __setitem__(self, name, value):
        raise TypeError("write into the derived channel's array: processor.derived[%r][:] = values" % (name,))

    def __setattr__(self, name, value):
        raise TypeError("write into the derived channel's array: processor.derived.%s[:] = values" % name)

    def __contains__(self, name):
        return name in self._arrays

    def __iter__(self):
        return iter(self._arrays)

    def __len__(self):
        return len(self._arrays)

    def keys(self):
        return self._arrays.keys()

    def items(self):
        return self._arrays.items()

    def __repr__(self):
        return "DerivedChannels(%s)" % ", ".join(self._arrays)


for _public in (Derived, DerivedChannels):
    _public.__module__ = "oe_pyprocessor"
