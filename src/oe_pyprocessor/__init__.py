"""A pure-Python stand-in for ``oe_pyprocessor``, the Python Processor's embedded module.

Inside the Open Ephys GUI (and ``pyproc-host``) the engine compiles the real
``oe_pyprocessor`` into the interpreter as a *builtin* module. Python's import
system asks the builtin importer before it looks at any folder on ``sys.path``,
so there this package is never imported: it cannot shadow the real module, even
when it is installed in the same environment as the GUI's Python Home.

Everywhere else (an IDE, a notebook, plain ``pytest``) ``import oe_pyprocessor``
finds this package, so a module written for the GUI imports, and its calls to the
``processor`` object can be exercised. :class:`PythonProcessor` has the embedded
class's methods, signatures, defaults and argument checks, raising the same
exception types with the same messages, and it records what the module sent:

``processor.events``
    a list of :class:`TtlEvent` ``(line, state, sample_offset, sample_number)``,
    one per ``add_python_event`` call. ``line`` is an int 0-255, ``state`` a bool,
    ``sample_offset`` the offset the module passed and ``sample_number`` the current
    buffer's first sample number plus ``sample_offset``.

``processor.spikes``
    a list of :class:`SpikeOut` ``(sample_number, waveform, sorted_id, electrode)``,
    one per ``add_python_spike`` call. ``waveform`` is a read-only float32
    channels x samples copy of what was sent.

``processor.published``
    a list of :class:`Published` ``(name, kind, sample_number, value, x)``, one per
    ``publish`` call, holding what the ring would hold: ``kind`` is "scalar",
    "curve", "image" or "picture", ``value`` a float or a read-only copy (float32;
    uint8 RGBA for a picture). :meth:`PythonProcessor.published_values` gives one
    name's values.

``processor.warnings``
    the engine's warnings, each once, with its text: an event on a line outside
    0-255 or sent while not acquiring is dropped (as the published plugin
    dropped or misrouted it), a return value of ``process()`` that is not an
    array shaped like ``data`` is ignored.

``processor.acquiring`` is True unless set otherwise; ``run_module`` clears it
during ``__init__`` and ``stop_acquisition``, as the engine does.

Like the engine, the stand-in knows the buffer being processed:
:meth:`PythonProcessor.begin_block` announces it (the engine does this before
delivering a buffer's events and spikes and calling ``process()``), and
``sample_offset`` must fall inside it. Before any buffer only ``sample_offset=0``
is accepted and events land at sample 0.

``oe_pyprocessor.testing`` runs a whole module over an array
(``run_module``) and provides pytest fixtures (``oe_processor``, ``run_pyprocessor``).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from oe_pyprocessor import _runtime as runtime
from oe_pyprocessor._runtime import (Bool, Channel, Choice, Derived, DerivedChannels, Float, Int,  # noqa: E402
                                     Parameter, ParameterError, Parameters, String, describe)

__all__ = ["PythonProcessor", "TtlEvent", "SpikeOut", "Published", "describe", "Float", "Int", "Bool", "Choice", "String",
           "Channel", "Parameter", "ParameterError", "Parameters", "Derived", "DerivedChannels"]



@dataclass(frozen=True)
class TtlEvent:
    """A TTL event sent with ``processor.add_python_event``."""

    line: int
    state: bool
    sample_offset: int
    sample_number: int


@dataclass(frozen=True, eq=False)
class Published:
    """A value published with ``processor.publish``, as the live ring keeps it."""

    name: str
    kind: str
    sample_number: int
    value: object
    x: Optional[np.ndarray]


@dataclass(frozen=True, eq=False)
class SpikeOut:
    """A spike sent with ``processor.add_python_spike``; ``waveform`` is float32, channels x samples."""

    sample_number: int
    waveform: np.ndarray
    sorted_id: int
    electrode: str

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpikeOut):
            return NotImplemented
        return (self.sample_number == other.sample_number and self.sorted_id == other.sorted_id
                and self.electrode == other.electrode
                and np.array_equal(self.waveform, other.waveform))

    __hash__ = None  # type: ignore[assignment]  # holds an array


def _documented(member):
    """MEMBER with the engine's own text for it (the runtime's API_DOCS): help() says the same in both."""
    member.__doc__ = runtime.API_DOCS[member.__name__]
    return member


class PythonProcessor:
    """The ``processor`` object a PyProcessor receives; this stand-in records what it is sent.

    ``PythonProcessor(num_channels=16, sample_rate=30000.0)``
    """

    def __init__(self, num_channels: int = 16, sample_rate: float = 30000.0):
        self._num_channels = int(num_channels)
        self._sample_rate = float(sample_rate)
        self._block_start = 0
        self._block_length = 0
        self.events: List[TtlEvent] = []
        self.spikes: List[SpikeOut] = []
        self.published: List[Published] = []
        self._published_kinds: dict = {}
        self.warnings: List[str] = []
        self._warned: set = set()
        self.acquiring = True
        self._params = Parameters([], {})
        self._derived = DerivedChannels()

    # -- the embedded module's API ------------------------------------------------

    @property
    @_documented
    def num_channels(self) -> int:
        return self._num_channels

    @property
    @_documented
    def sample_rate(self) -> float:
        return self._sample_rate

    @property
    @_documented
    def derived(self) -> DerivedChannels:  # run_module fills them
        return self._derived

    @property
    @_documented
    def params(self) -> Parameters:
        return self._params

    @_documented
    def add_python_event(self, line, state, sample_offset=0) -> None:
        line_number = runtime.as_integer(line, "line")
        on = runtime.as_state(state)
        offset = runtime.in_range(sample_offset, "sample_offset", 0, self._block_length - 1 if self._block_length > 0 else 0)
        if not self.acquiring:
            self.warn_once("not acquiring", runtime.NOT_ACQUIRING)
            return
        if not 0 <= line_number <= 255:
            self.warn_once("line", runtime.line_outside_warning(line_number))
            return
        self.events.append(TtlEvent(line_number, on, offset, self._block_start + offset))

    @_documented
    def add_python_spike(self, sample_number, waveform, sorted_id=0, electrode="Python Spikes") -> None:
        sample = runtime.in_range(sample_number, "sample_number", 0, runtime.INT64_MAX)
        sorted_number = runtime.in_range(sorted_id, "sorted_id", 0, 65535)
        runtime.check_electrode(electrode)
        values = runtime.waveform_array(waveform)
        values.setflags(write=False)
        self.spikes.append(SpikeOut(sample, values, sorted_number, electrode))

    @_documented
    def publish(self, name, value, x=None) -> None:
        kind, kept, xs = runtime.published_value(name, value, x)
        known = self._published_kinds.get(name)
        if known is None:
            if len(self._published_kinds) >= runtime.MAX_NAMES:
                raise runtime.too_many_names_error(name)
            self._published_kinds[name] = known = kind
        if known != kind:
            raise runtime.kind_change_error(name, known, kind)
        if isinstance(kept, np.ndarray):
            kept = np.array(kept, copy=True)
            kept.setflags(write=False)
        self.published.append(Published(name, kind, self._block_start, kept, xs))

    def published_values(self, name: str) -> Tuple[np.ndarray, list]:
        """(sample numbers, values) of everything published under `name`."""
        found = [p for p in self.published if p.name == name]
        return np.array([p.sample_number for p in found], dtype=np.int64), [p.value for p in found]

    # -- the stand-in's own controls (what the engine does around the module) ------

    def begin_block(self, first_sample_number: int, num_samples: int) -> None:
        """Announces the buffer about to be processed: events sent next land at
        ``first_sample_number + sample_offset``, with ``sample_offset`` below ``num_samples``."""
        first = operator.index(first_sample_number)
        length = operator.index(num_samples)
        if first < 0:
            raise ValueError("first_sample_number must be >= 0, got %d" % first)
        if length < 0:
            raise ValueError("num_samples must be >= 0, got %d" % length)
        self._block_start = first
        self._block_length = length

    @property
    def current_block(self) -> Optional[Tuple[int, int]]:
        """(first_sample_number, num_samples) of the current buffer, or None before any."""
        return (self._block_start, self._block_length) if self._block_length > 0 else None

    def warn_once(self, key: str, text: str) -> None:
        """Records the engine's warning ``text``, once per ``key`` (as the engine warns once per cause)."""
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(text)

    def clear(self) -> None:
        """Forgets the recorded events, spikes and warnings."""
        self.events.clear()
        self.spikes.clear()
        self.published.clear()
        self.warnings.clear()
        self._warned.clear()

    def __repr__(self) -> str:
        return "PythonProcessor(num_channels=%d, sample_rate=%g) [stand-in: %d events, %d spikes]" % (
            self._num_channels, self._sample_rate, len(self.events), len(self.spikes))


def _use_parameters(processor: PythonProcessor, parameter_set) -> None:
    """The stand-in's `params` become those of a runtime ParameterSet (run_module does this)."""
    processor._params = parameter_set.params


def _use_derived(processor: PythonProcessor, arrays: dict) -> None:
    """The stand-in's `derived` (the object a module may have kept in __init__) names those of the run;
    run_module points them at each buffer's slice."""
    processor._derived._arrays.clear()
    processor._derived._arrays.update(arrays)
