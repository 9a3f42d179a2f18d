"""The pure-Python oe_pyprocessor stand-in: same API and messages as the engine's, and its test helpers."""
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import oe_pyprocessor
from oe_pyprocessor import PythonProcessor, SpikeOut, TtlEvent
from oe_pyprocessor.testing import SpikeIn, TtlIn, load_module, run_module

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).parent / "scripts"
TEMPLATE = ROOT / "templates" / "processor_template.py"
SYNTHETIC = "synthetic:channels=8,rate=30000,seconds=0.5,block=1000"
PACKAGE_ROOT = Path(oe_pyprocessor.__file__).resolve().parent.parent  # the folder holding oe_pyprocessor/

# Bad (and a few good) calls on the processor `p`, made inside process() of the first
# 1000-sample buffer; `np` is numpy.
CALLS = [
    "p.add_python_event(256, True)",
    "p.add_python_event(-1, True)",
    "p.add_python_event(1.5, True)",
    "p.add_python_event(np.float32(1), 1)",
    "p.add_python_event(2**70, True)",
    "p.add_python_event(1, 'on')",
    "p.add_python_event(1, 1.0)",
    "p.add_python_event(1, 2)",
    "p.add_python_event(1, None)",
    "p.add_python_event(1, True, sample_offset=1000)",
    "p.add_python_event(1, True, -1)",
    "p.add_python_event(1, True, 'x' * 100)",
    "p.add_python_event(line=1, state=np.True_, sample_offset=999)",
    "p.add_python_spike(0, np.zeros(40))",
    "p.add_python_spike(0, 'abc')",
    "p.add_python_spike(0, None)",
    "p.add_python_spike(0, [[1, 2], [3]])",
    "p.add_python_spike(0, np.zeros((0, 40)))",
    "p.add_python_spike(0, np.zeros((2, 3, 4)))",
    "p.add_python_spike(-1, np.zeros((4, 40)))",
    "p.add_python_spike(1.0, np.zeros((4, 40)))",
    "p.add_python_spike(0, np.zeros((4, 40)), sorted_id=70000)",
    "p.add_python_spike(0, np.zeros((4, 40)), electrode=3)",
    "p.add_python_spike(5, [[1.0, 2.0]], 7, 'Mine')",
    "p.num_channels",
    "p.sample_rate",
]
# Calls made in start_acquisition, before any buffer: only sample_offset 0 is allowed.
CALLS_BEFORE_ANY_BUFFER = [
    "p.add_python_event(1, True, 1)",
    "p.add_python_event(1, True, 0)",
]

LOGGING_MODULE = '''
import json
import os

import numpy as np
import oe_pyprocessor

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "outcomes.json")


def attempt(p, call):
    try:
        value = eval(call, {"np": np, "p": p})
    except BaseException as error:
        return [type(error).__name__, str(error)]
    return ["ok", repr(value)]


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.p = processor
        self.outcomes = {"buffer": [], "before": []}
        self.done = False

    def start_acquisition(self):
        self.outcomes["before"] = [attempt(self.p, call) for call in BEFORE]

    def process(self, data):
        if not self.done:
            self.done = True
            self.outcomes["buffer"] = [attempt(self.p, call) for call in CALLS]
            self.outcomes["docs"] = [oe_pyprocessor.PythonProcessor.add_python_event.__doc__,
                                     oe_pyprocessor.PythonProcessor.add_python_spike.__doc__]
            self.outcomes["help"] = {name: getattr(oe_pyprocessor.PythonProcessor, name).__doc__
                                     for name in ("add_python_event", "add_python_spike", "publish", "num_channels",
                                                  "sample_rate", "derived", "params")}
            self.outcomes["help"]["module"] = oe_pyprocessor.__doc__
            with open(LOG, "w") as out:
                json.dump(self.outcomes, out)
'''


def attempt(p, call):
    try:
        value = eval(call, {"np": np, "p": p})
    except BaseException as error:
        return [type(error).__name__, str(error)]
    return ["ok", repr(value)]


@pytest.fixture(scope="module")
def engine_outcomes(tmp_path_factory):
    """What the real engine answers to every call in CALLS, from one run of pyproc-host."""
    from conftest import Host
    from oe_pyproc.host import current_python_home

    host = Host(current_python_home(), tmp_path_factory.mktemp("engine_outcomes"))
    source = LOGGING_MODULE + "\nCALLS = %r\nBEFORE = %r\n" % (CALLS, CALLS_BEFORE_ANY_BUFFER)
    script = host.script("log_outcomes.py", source)
    result = host.run(script, input_source=SYNTHETIC, output=False)
    assert result.returncode == 0, result.summary
    return dict(json.loads((script.parent / "outcomes.json").read_text()),
                warnings=result.summary["instances"][0]["warnings"])


def standin_outcomes():
    p = PythonProcessor(num_channels=8, sample_rate=30000.0)
    before = [attempt(p, call) for call in CALLS_BEFORE_ANY_BUFFER]
    p.begin_block(0, 1000)
    return {"buffer": [attempt(p, call) for call in CALLS], "before": before, "warnings": "\n".join(p.warnings)}


@pytest.mark.parametrize("index", range(len(CALLS)), ids=CALLS)
def test_every_call_answers_as_the_engine_does(engine_outcomes, index):
    assert standin_outcomes()["buffer"][index] == engine_outcomes["buffer"][index]


def test_before_any_buffer_only_offset_zero_is_allowed_as_in_the_engine(engine_outcomes):
    outcomes = standin_outcomes()["before"]
    assert outcomes == engine_outcomes["before"]
    assert outcomes[0] == ["ValueError", "sample_offset must be 0-0, got 1"]


def test_the_warnings_are_the_engines(engine_outcomes):
    """A line outside 0-255 is dropped with the same warning, once (the published plugin wrapped it)."""
    warnings = standin_outcomes()["warnings"]
    assert warnings == engine_outcomes["warnings"]
    assert warnings == ("add_python_event(256, ...): line 256 is outside 0-255, so the event was dropped (the "
                        "published plugin sent it on another line)")


def test_the_documented_messages_are_exact():
    outcomes = dict(zip(CALLS, standin_outcomes()["buffer"]))
    assert outcomes["p.add_python_event(256, True)"] == ["ok", "None"]  # dropped with a warning
    assert outcomes["p.add_python_event(1, None)"] == outcomes["p.add_python_event(1, 2)"] == ["ok", "None"]
    assert outcomes["p.add_python_event(1.5, True)"] == ["TypeError", "line must be an integer, got float 1.5"]
    assert outcomes["p.add_python_event(1, 'on')"] == [
        "TypeError", "state must be True/False (or a number or None, read as a bool), got str 'on'"]
    assert outcomes["p.add_python_event(1, True, sample_offset=1000)"] == [
        "ValueError", "sample_offset must be 0-999, got 1000"]
    assert outcomes["p.add_python_spike(0, np.zeros(40))"] == [
        "ValueError", "waveform must be 2-D (channels x samples), got shape (40,); for one channel use "
                      "waveform[np.newaxis, :]"]
    assert outcomes["p.add_python_spike(0, np.zeros((4, 40)), sorted_id=70000)"] == [
        "ValueError", "sorted_id must be 0-65535, got 70000"]


@pytest.mark.parametrize("call", [
    "p.add_python_event(1.5, True)",
    "p.add_python_event(1, 'on')",
    "p.add_python_spike(0, np.zeros(40))",
    "p.add_python_spike(0, np.zeros((4, 40)), sorted_id=70000)",
])
def test_an_uncaught_bad_call_errors_the_engine_with_the_stand_ins_message(pyhost, call):
    """As tests/test_host_errors.py: the call raises out of process() and the instance errors."""
    source = ("import numpy as np\n\nclass PyProcessor:\n    def __init__(self, p, n, r):\n        self.p = p\n\n"
              f"    def process(self, data):\n        p = self.p\n        {call}\n")
    result = pyhost.run(pyhost.script("bad_call.py", source), input_source=SYNTHETIC, output=False)
    assert result.returncode == 1
    last_line = result.summary["instances"][0]["error"].splitlines()[-1]
    kind, message = standin_outcomes()["buffer"][CALLS.index(call)]
    assert last_line == f"{kind}: {message}"


def test_signatures_and_defaults_match_the_engine(engine_outcomes):
    for method, doc in zip(("add_python_event", "add_python_spike"), engine_outcomes["docs"]):
        engine = re.match(rf"{method}\(self: oe_pyprocessor\.PythonProcessor, (.*)\) -> None", doc)
        assert engine, doc
        engine_params = [re.sub(r": object", "", part).replace(" = ", "=") for part in engine.group(1).split(", ")]
        standin = [str(p) for name, p in inspect.signature(getattr(PythonProcessor, method)).parameters.items()
                   if name != "self"]
        assert [p.replace('"', "'") for p in standin] == engine_params
        assert " ".join(getattr(PythonProcessor, method).__doc__.split()) in " ".join(doc.split())


def test_every_member_says_the_same_in_help_as_the_engine(engine_outcomes):
    """One text per member (the runtime's API_DOCS): the engine's module shows it after pybind11's signature
    line, the stand-in as the member's own docstring."""
    from oe_pyprocessor._runtime import API_DOCS

    assert set(engine_outcomes["help"]) == set(API_DOCS)
    for name, engine_doc in engine_outcomes["help"].items():
        assert engine_doc.rstrip().endswith(API_DOCS[name]), (name, engine_doc)
        if name != "module":
            assert getattr(PythonProcessor, name).__doc__ == API_DOCS[name]


def test_the_builtin_engine_module_wins_over_the_stand_in(pyhost):
    """Even with the stand-in package importable beside the script, the engine's module is used."""
    import shutil

    shutil.copytree(Path(oe_pyprocessor.__file__).parent, pyhost.workdir / "oe_pyprocessor")
    source = ("import oe_pyprocessor\n\nassert oe_pyprocessor.__spec__.origin == 'built-in', "
              "oe_pyprocessor.__spec__\n\n\nclass PyProcessor:\n    def __init__(self, p, n, r):\n"
              "        assert isinstance(p, oe_pyprocessor.PythonProcessor)\n        assert not hasattr(p, 'events')\n\n"
              "    def process(self, data):\n        pass\n")
    result = pyhost.run(pyhost.script("which_module.py", source), input_source=SYNTHETIC, output=False)
    assert result.returncode == 0, result.summary["instances"][0]["error"]


# -- recording -------------------------------------------------------------------------

def test_events_land_at_the_buffer_start_plus_offset():
    p = PythonProcessor(num_channels=4, sample_rate=1000.0)
    assert (p.num_channels, p.sample_rate, p.current_block) == (4, 1000.0, None)
    p.add_python_event(2, True)
    p.begin_block(5000, 100)
    p.add_python_event(3, 1, 7)
    p.add_python_event(line=3, state=False, sample_offset=99)
    assert p.events == [TtlEvent(2, True, 0, 0), TtlEvent(3, True, 7, 5007), TtlEvent(3, False, 99, 5099)]
    assert p.current_block == (5000, 100)
    with pytest.raises(ValueError, match=r"^sample_offset must be 0-99, got 100$"):
        p.add_python_event(3, True, 100)
    assert len(p.events) == 3, "a rejected call records nothing"


def test_spikes_are_recorded_as_float32_copies():
    p = PythonProcessor()
    waveform = np.arange(8, dtype=np.float64).reshape(2, 4)
    p.add_python_spike(1234, waveform)
    p.add_python_spike(99, [[1, 2, 3]], sorted_id=5, electrode="Tetrode 2")
    waveform[0, 0] = 100
    first, second = p.spikes
    assert (first.sample_number, first.sorted_id, first.electrode) == (1234, 0, "Python Spikes")
    assert first.waveform.dtype == np.float32 and first.waveform[0, 0] == 0
    assert not first.waveform.flags.writeable
    assert second == SpikeOut(99, np.array([[1, 2, 3]], dtype=np.float32), 5, "Tetrode 2")
    p.clear()
    assert p.events == [] and p.spikes == []


# -- load_module and run_module --------------------------------------------------------

def test_load_module_gives_each_load_its_own_module(tmp_path):
    script = tmp_path / "signal.py"
    script.write_text("COUNT = 0\n\nclass PyProcessor:\n    pass\n")
    first, second = load_module(script), load_module(script)
    assert first is not second
    first.COUNT = 5
    assert second.COUNT == 0
    import signal

    assert hasattr(signal, "SIGINT"), "a script called signal.py does not hide the standard library"
    # Its stem names the standard library's module: the engine's rule gives it a name of its own.
    assert first.__name__ == second.__name__ == "oe_script_signal" and sys.modules["oe_script_signal"] is second
    mine = tmp_path / "my_filter_for_standin.py"
    mine.write_text("class PyProcessor:\n    pass\n")
    loaded = load_module(mine)
    assert loaded.__name__ == "my_filter_for_standin"  # the file's stem, as in the published plugin
    import my_filter_for_standin

    assert my_filter_for_standin is loaded


def test_run_module_drives_the_template(tmp_path):
    data = np.random.default_rng(0).normal(size=(4, 5000)).astype(np.float32)
    result = run_module(TEMPLATE, data, sample_rate=30000.0)
    np.testing.assert_array_equal(result.output, data)
    assert result.blocks == 5 and result.block_starts == [0, 1024, 2048, 3072, 4096]
    assert type(result.module).__name__ == "PyProcessor"
    assert result.module.processor is result.processor
    assert (result.module.num_channels, result.module.sample_rate) == (4, 30000.0)
    assert result.events == [] and result.spikes == []


def test_run_module_keeps_in_place_edits_and_returned_arrays():
    data = np.arange(24, dtype=np.float32).reshape(3, 8)
    doubled = run_module(SCRIPTS / "double_in_place.py", data, sample_rate=1000.0, block_size=3)
    np.testing.assert_array_equal(doubled.output, data * 2)
    np.testing.assert_array_equal(data, np.arange(24, dtype=np.float32).reshape(3, 8))  # the input is not touched
    negated = run_module(SCRIPTS / "negate_returned.py", data, sample_rate=1000.0, block_size=3)
    np.testing.assert_array_equal(negated.output, -data)
    assert negated.blocks == 3


def test_run_module_with_a_small_in_place_class():
    class Offset:
        def __init__(self, processor, num_channels, sample_rate):
            self.calls = []

        def start_acquisition(self):
            self.calls.append("start")

        def process(self, data):
            self.calls.append(data.shape)
            data += 1

        def stop_acquisition(self):
            self.calls.append("stop")

    result = run_module(Offset, np.zeros((2, 2500)), sample_rate=30000, block_size=1000)
    assert result.module.calls == ["start", (2, 1000), (2, 1000), (2, 500), "stop"]
    assert result.output.dtype == np.float32 and np.all(result.output == 1)


def test_run_module_ignores_other_return_values_with_one_warning_as_the_engine_does():
    class Wrong:
        def __init__(self, processor, num_channels, sample_rate):
            pass

        def process(self, data):
            data += 1
            return data[:2]

    result = run_module(Wrong, np.zeros((8, 3000)), sample_rate=30000, block_size=1000)
    np.testing.assert_array_equal(result.output, np.ones((8, 3000)))
    assert result.processor.warnings == [
        "process() returned ndarray of shape (2, 1000); it is ignored, as the published plugin ignored it (return "
        "None, or an ndarray shaped like data, (8, 1000), to replace the output)"]


def test_run_module_places_events_at_the_requested_samples():
    result = run_module(SCRIPTS / "events_at_offsets.py", np.zeros((8, 15000)), sample_rate=30000, block_size=1000)
    line3 = [e for e in result.events if e.line == 3]
    assert [e.sample_number for e in line3 if e.state] == [b * 1000 + 7 for b in range(15)]
    assert [e.sample_number for e in line3 if not e.state] == [b * 1000 + 7 + b for b in range(15)]
    line0 = [(e.sample_number, e.state) for e in result.events if e.line == 0]
    assert line0 == [(b * 1000, b % 2 == 0) for b in range(15)]
    assert len(result.events) == 45


def test_run_module_delivers_events_and_spikes_before_their_buffer():
    class Recorder:
        def __init__(self, processor, num_channels, sample_rate):
            self.calls = []

        def process(self, data):
            self.calls.append(("process",))

        def handle_ttl_event(self, source_node, channel, sample_number, line, state):
            self.calls.append(("ttl", source_node, channel, sample_number, line, state))

        def handle_spike(self, source_node, electrode_name, num_channels, num_samples, sample_number, sorted_id,
                         spike_data):
            self.calls.append(("spike", source_node, electrode_name, num_channels, num_samples, sample_number,
                               sorted_id, spike_data.shape, str(spike_data.dtype)))

    result = run_module(Recorder, np.zeros((2, 3000)), sample_rate=30000, block_size=1024,
                        ttl_events=[(1500, 1, True), TtlIn(10, 0, False, source_node=7, channel="Mine")],
                        spikes=[SpikeIn(2100, np.ones((4, 40)), sorted_id=2)])
    assert result.module.calls == [
        ("ttl", 7, "Mine", 10, 0, 0),
        ("process",),
        ("ttl", 100, "Synthetic TTL", 1500, 1, 1),
        ("process",),
        ("spike", 100, "Electrode 1", 4, 40, 2100, 2, (4, 40), "float32"),
        ("process",),
    ]
    with pytest.raises(ValueError, match=r"^TTL event at sample 3000 is outside the data \(samples 0-2999\)$"):
        run_module(Recorder, np.zeros((2, 3000)), sample_rate=30000, ttl_events=[(3000, 1, True)])


def test_run_module_echoes_spikes_through_spike_echo():
    spikes = [SpikeIn(100, -np.full((4, 40), 50.0)), SpikeIn(2500, -np.full((4, 40), 80.0), 1, "Electrode 2")]
    result = run_module(SCRIPTS / "spike_echo.py", np.zeros((8, 3000)), sample_rate=30000, spikes=spikes)
    assert [(s.sample_number, s.sorted_id, s.electrode) for s in result.spikes] == [(100, 3, "Echo"),
                                                                                   (2500, 3, "Echo")]
    assert np.all(result.spikes[0].waveform == 50) and np.all(result.spikes[1].waveform == 80)
    # A run's output spikes feed the next run.
    again = run_module(SCRIPTS / "spike_echo.py", np.zeros((8, 3000)), sample_rate=30000, spikes=result.spikes)
    assert np.all(again.spikes[0].waveform == -50)


# -- the pytest plugin -------------------------------------------------------------------

USER_MODULE = """
class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor

    def process(self, data):
        data *= 3
        self.processor.add_python_event(4, True, 10)
"""

USER_TESTS = """
import numpy as np


def test_triples_and_marks_each_buffer(run_pyprocessor):
    result = run_pyprocessor("triple.py", np.ones((2, 2048)), sample_rate=30000)
    assert np.all(result.output == 3)
    assert [e.sample_number for e in result.events] == [10, 1034]


def test_factory_makes_stand_in_processors(oe_processor):
    processor = oe_processor(num_channels=4, sample_rate=1000.0)
    assert (processor.num_channels, processor.sample_rate) == (4, 1000.0)
    processor.add_python_event(1, True)
    assert processor.events[0].sample_number == 0
"""


def run_user_pytest(tmp_path, *arguments, autoload=False):
    (tmp_path / "triple.py").write_text(USER_MODULE)
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    if autoload:
        env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    else:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments,
                           "test_user.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_the_fixtures_work_in_a_users_pytest_run(tmp_path):
    run = run_user_pytest(tmp_path, "-p", "oe_pyprocessor.testing")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_the_fixtures_are_missing_without_the_plugin(tmp_path):
    run = run_user_pytest(tmp_path)
    assert run.returncode == 1
    assert "fixture 'run_pyprocessor' not found" in run.stdout


def test_the_pytest11_entry_point_registers_the_plugin(tmp_path):
    from importlib.metadata import entry_points

    try:
        group = entry_points(group="pytest11")
    except TypeError:  # Python 3.8 and 3.9
        group = entry_points().get("pytest11", [])
    found = [ep for ep in group if ep.name == "oe_pyprocessor"]
    if not found:
        pytest.skip("the pytest11 entry point oe_pyprocessor is not installed (pip install . after adding it)")
    assert found[0].value == "oe_pyprocessor.testing"
    run = run_user_pytest(tmp_path, autoload=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout
