"""Run a PyProcessor module in plain Python, and pytest fixtures to test one.

``load_module(path)`` loads a script by path under a unique module name, as the
engine does (two loads of one file keep separate state; a script called
``signal.py`` does not hide the standard library).

``run_module(path_or_class, data, sample_rate, ...)`` plays the engine's part
over an array: it constructs ``PyProcessor(processor, num_channels, sample_rate)``
with a stand-in :class:`~oe_pyprocessor.PythonProcessor`, calls
``start_acquisition``, cuts ``data`` into buffers and, for each, announces it,
delivers the TTL events and spikes that fall in it (``handle_ttl_event(source_node,
channel, sample_number, line, state)``, ``handle_spike(source_node, electrode_name,
num_channels, num_samples, sample_number, sorted_id, spike_data)``), calls
``process()`` on a view of the buffer (a returned array replaces it), and finally
calls ``stop_acquisition``. Unlike the engine it lets exceptions propagate, so a
test fails with the module's own traceback.

With pytest, the fixtures ``oe_processor`` (a factory of stand-in processors) and
``run_pyprocessor`` (``run_module``) are available once this plugin is active.
Installed with pip, the ``pytest11`` entry point ``oe_pyprocessor`` activates it
in every pytest run (with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` set, pass
``-p oe_pyprocessor``); do not also pass ``-p oe_pyprocessor.testing`` then, which
would register the module a second time. Without the entry point (the package on
``PYTHONPATH`` only), pass ``-p oe_pyprocessor.testing``.

    def test_doubles(run_pyprocessor):
        data = np.ones((4, 3000), dtype=np.float32)
        result = run_pyprocessor("my_module.py", data, sample_rate=30000)
        assert np.all(result.output == 2)
"""
from __future__ import annotations

import inspect
import itertools
import os
import types
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Union

import numpy as np

from oe_pyprocessor import _runtime as runtime
from oe_pyprocessor._runtime import (ParameterError, ParameterSet, declared_derived, declared_parameters,
                                      load_script)

from oe_pyprocessor import PythonProcessor, SpikeOut, TtlEvent, _use_derived, _use_parameters

__all__ = ["load_module", "run_module", "RunResult", "TtlIn", "SpikeIn"]

DEFAULT_SOURCE_NODE = 100  # what pyproc-host's synthetic source calls itself
DEFAULT_TTL_CHANNEL = "Synthetic TTL"

_loads = itertools.count(1)


def load_module(path: Union[str, os.PathLike]) -> types.ModuleType:
    """Executes the script at ``path`` as a fresh module, exactly as the engine does (the same code:
    ``oe_pyprocessor._runtime``): named by the file's stem (``oe_script_<stem>`` where the stem names
    another importable module) and, until the next load of that name, in ``sys.modules``.

    Its folder is appended to ``sys.path`` (never prepended), so helper modules
    beside it import but cannot hide the standard library.
    """
    path = os.path.abspath(os.fspath(path))
    return load_script(path, ("stand-in", next(_loads)))


@dataclass(frozen=True)
class TtlIn:
    """A TTL event to deliver; a tuple ``(sample_number, line, state[, source_node[, channel]])`` or a
    :class:`~oe_pyprocessor.TtlEvent` (from an earlier run) works as well."""

    sample_number: int
    line: int
    state: bool
    source_node: int = DEFAULT_SOURCE_NODE
    channel: str = DEFAULT_TTL_CHANNEL


@dataclass(frozen=True, eq=False)
class SpikeIn:
    """A spike to deliver; a tuple ``(sample_number, waveform[, sorted_id[, electrode[, source_node]]])``
    or a :class:`~oe_pyprocessor.SpikeOut` (from an earlier run) works as well."""

    sample_number: int
    waveform: Any
    sorted_id: int = 0
    electrode: str = "Electrode 1"
    source_node: int = DEFAULT_SOURCE_NODE


@dataclass
class RunResult:
    """What ``run_module`` returns."""

    output: np.ndarray  # float32, channels x samples: the data as the module left it
    events: List[TtlEvent]  # what the module sent with add_python_event, in order
    spikes: List[SpikeOut]  # what the module sent with add_python_spike, in order
    processor: PythonProcessor  # the stand-in handed to the module
    module: Any  # the PyProcessor instance
    blocks: int = 0  # process() calls
    block_starts: List[int] = field(default_factory=list)
    # name -> float32 array over the whole run: each derived channel (PyProcessor.derived_channels), as recorded
    derived: Dict[str, np.ndarray] = field(default_factory=dict)
    derived_declarations: List[dict] = field(default_factory=list)  # {"name", "unit", "description", "bit_volts"}


def _ttl_in(item: Any) -> TtlIn:
    if isinstance(item, TtlIn):
        return item
    if isinstance(item, TtlEvent):
        return TtlIn(item.sample_number, item.line, item.state)
    if isinstance(item, (tuple, list)) and 3 <= len(item) <= 5:
        return TtlIn(*item)
    raise TypeError("a TTL event must be a TtlIn, a TtlEvent or a tuple (sample_number, line, state"
                    "[, source_node[, channel]]), got %r" % (item,))


def _spike_in(item: Any) -> SpikeIn:
    if isinstance(item, SpikeIn):
        return item
    if isinstance(item, SpikeOut):
        return SpikeIn(item.sample_number, item.waveform, item.sorted_id, item.electrode)
    if isinstance(item, (tuple, list)) and 2 <= len(item) <= 5:
        return SpikeIn(*item)
    raise TypeError("a spike must be a SpikeIn, a SpikeOut or a tuple (sample_number, waveform"
                    "[, sorted_id[, electrode[, source_node]]]), got %r" % (item,))


def _processor_class(path_or_class: Any) -> type:
    if inspect.isclass(path_or_class):
        return path_or_class
    if isinstance(path_or_class, types.ModuleType):
        module = path_or_class
    elif isinstance(path_or_class, (str, os.PathLike)):
        module = load_module(path_or_class)
    else:
        raise TypeError("run_module needs a script path, a module or a PyProcessor class, got %r"
                        % (path_or_class,))
    if not hasattr(module, "PyProcessor"):
        raise ValueError("the script defines no class PyProcessor: %s" % getattr(module, "__file__", module))
    return module.PyProcessor


def _in_data(sample_number: int, total: int, what: str) -> int:
    if not 0 <= sample_number < total:
        raise ValueError("%s at sample %d is outside the data (samples 0-%d)" % (what, sample_number, total - 1))
    return sample_number


def _take_result(result: Any, data: np.ndarray, processor: PythonProcessor) -> None:
    """As the engine: None or `data` itself leaves the buffer; an ndarray shaped like it replaces it;
    anything else is ignored with one warning, as the published plugin ignored return values."""
    if result is None or result is data:
        return
    if isinstance(result, np.ndarray) and result.ndim == 2 and result.shape == data.shape:
        data[...] = result
        return
    processor.warn_once("return", runtime.ignored_return_warning(result, *data.shape))


def run_module(path_or_class: Any, data: Any, sample_rate: float, block_size: int = 1024,
               ttl_events: Iterable[Any] = (), spikes: Iterable[Any] = (),
               recording_dir: Union[str, os.PathLike, None] = None, params: Optional[Dict[str, Any]] = None,
               param_changes: Optional[Dict[int, Dict[str, Any]]] = None, channel_names: Optional[List[str]] = None,
               bit_volts: float = 0.195) -> RunResult:
    """Runs a PyProcessor over ``data`` (channels x samples) buffer by buffer, as the engine would.

    ``path_or_class``: a script path, a loaded module or the PyProcessor class.
    ``data`` is copied to float32 first; the result's ``output`` is that copy as the module left it.
    ``ttl_events`` and ``spikes`` are delivered, in sample order, before the ``process()`` of the
    buffer they fall in. With ``recording_dir``, ``start_recording(recording_dir)`` and
    ``stop_recording()`` are called around the buffers as well.
    ``params`` ({name: value}) are the module's parameters' values from before ``__init__``, as
    ``pyproc-host --param``; ``param_changes`` ({K: {name: value}}) change them before the K-th buffer
    (1 = the first), as ``--param-at K:name=value``, calling ``parameter_changed(name, value)``. A
    value a parameter refuses raises ParameterError with the engine's message.
    The module's derived channels (``derived_channels``) are checked as the engine checks them, against
    ``channel_names`` (default CH1, CH2...) and with ``bit_volts`` as the first channel's; each buffer's
    ``processor.derived`` arrays are slices of ``result.derived[name]``, which start at 0.
    """
    output = np.array(data, dtype=np.float32, order="C", copy=True)
    if output.ndim != 2:
        raise ValueError("data must be 2-D (channels x samples), got shape %s" % (tuple(output.shape),))
    num_channels, total = output.shape
    if block_size < 1:
        raise ValueError("block_size must be at least 1, got %d" % block_size)
    events_in = sorted((_ttl_in(item) for item in ttl_events), key=lambda e: e.sample_number)
    spikes_in = sorted((_spike_in(item) for item in spikes), key=lambda s: s.sample_number)
    for event in events_in:
        _in_data(event.sample_number, total, "TTL event")
    for spike in spikes_in:
        _in_data(spike.sample_number, total, "spike")

    processor = PythonProcessor(num_channels=num_channels, sample_rate=sample_rate)
    processor.acquiring = False
    processor_class = _processor_class(path_or_class)
    parameter_set = ParameterSet(declared_parameters(processor_class), dict(params or {}), num_channels)
    if parameter_set.problems:
        raise ParameterError("; ".join(parameter_set.problems))
    _use_parameters(processor, parameter_set)
    module = processor_class(processor, num_channels, sample_rate)
    if not hasattr(module, "process"):
        raise ValueError("PyProcessor has no process(self, data) method")
    result = RunResult(output, processor.events, processor.spikes, processor, module)
    names = list(channel_names) if channel_names is not None else ["CH%d" % (c + 1) for c in range(num_channels)]
    result.derived_declarations = declared_derived(module, names, bit_volts)
    result.derived = {d["name"]: np.zeros(total, dtype=np.float32) for d in result.derived_declarations}
    _use_derived(processor, result.derived)
    fresh_data = bool(getattr(module, "fresh_data", False))

    processor.acquiring = True
    _call_optional(module, "start_acquisition")
    if recording_dir is not None:
        _call_optional(module, "start_recording", os.fspath(recording_dir))
    next_event = next_spike = 0
    for number, start in enumerate(range(0, total, block_size), 1):
        stop = min(start + block_size, total)
        for name, value in (param_changes or {}).get(number, {}).items():
            parameter_set.request(name, value)
        for name, value in parameter_set.apply_pending():
            _call_optional(module, "parameter_changed", name, value)
        processor.begin_block(start, stop - start)
        while next_event < len(events_in) and events_in[next_event].sample_number < stop:
            event = events_in[next_event]
            _call_optional(module, "handle_ttl_event", int(event.source_node), str(event.channel),
                           int(event.sample_number), int(event.line), bool(event.state))
            next_event += 1
        while next_spike < len(spikes_in) and spikes_in[next_spike].sample_number < stop:
            spike = spikes_in[next_spike]
            waveform = np.array(spike.waveform, dtype=np.float32, order="C", copy=True)
            if waveform.ndim != 2:
                raise ValueError("a spike's waveform must be 2-D (channels x samples), got shape %s"
                                 % (tuple(waveform.shape),))
            _call_optional(module, "handle_spike", int(spike.source_node), str(spike.electrode),
                           int(waveform.shape[0]), int(waveform.shape[1]), int(spike.sample_number),
                           int(spike.sorted_id), waveform)
            next_spike += 1
        view = output[:, start:stop]  # a view on the output, as the engine hands out the chain's buffer
        # fresh_data: a C-contiguous copy, written back after process(), as the published plugin did
        buffer = np.array(view, order="C", copy=True) if fresh_data else view
        for name, values in result.derived.items():
            processor.derived._arrays[name] = values[start:stop]
        _take_result(module.process(buffer), buffer, processor)
        if fresh_data:
            view[...] = buffer
        result.blocks += 1
        result.block_starts.append(start)
    if recording_dir is not None:
        _call_optional(module, "stop_recording")
    processor.acquiring = False
    _call_optional(module, "stop_acquisition")
    return result


def _call_optional(module: Any, method: str, *arguments: Any) -> None:
    function = getattr(module, method, None)
    if function is not None:
        function(*arguments)


try:
    import pytest
except ImportError:  # the helpers above work without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def oe_processor():
        """A factory of stand-in processors: ``oe_processor(num_channels=4, sample_rate=30000.0)``."""

        def make(num_channels: int = 16, sample_rate: float = 30000.0) -> PythonProcessor:
            return PythonProcessor(num_channels=num_channels, sample_rate=sample_rate)

        return make

    @pytest.fixture
    def run_pyprocessor():
        """``run_module``: ``run_pyprocessor(path_or_class, data, sample_rate, block_size=1024, ...)``."""
        return run_module
