"""A module can never take the recording down (isolated mode, the default), in the real GUI: File Reader
-> Python Processor -> Record Node, with a module that stalls, loops, crashes, exits or is killed from
outside. The recording has every sample of the run, the module's output (the input doubled) where it
ran and the input where it did not; stop, Reload and quit work at once; the status names the cause
with the Python stack; no worker process is left behind."""
from __future__ import annotations

import os
import re
import shutil
import signal
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from support import wait_until, workers_of
from test_gui import (GUI, NO_GUI_REASON, expected_steps, input_file, jack, new_gui, plugin,  # noqa: F401 (fixtures)
                      recorded, session)
from oe_pyproc.host import current_python_home

pytestmark = pytest.mark.skipif(GUI is None, reason=NO_GUI_REASON)

MISBEHAVING = Path(__file__).parent / "misbehaving"
AT_BUFFER = 30  # about 0.7 s into the acquisition


def python_chain(gui, input_file: Path, script: Path, record_dir: Path, how: str = "") -> int:
    """File Reader -> Python Processor (SCRIPT; misbehaves.py misbehaving as HOW at AT_BUFFER) -> Record Node;
    the processor's id."""
    reader = gui.add("File Reader")
    gui.set(reader, "selected_file", str(input_file))
    python = gui.add("Python Processor", reader)
    gui.set(python, "script_path", str(script))
    if how:
        gui.set(python, "at_buffer", AT_BUFFER)
        gui.set(python, "how", how)
    gui.set(python, "deadline_ms", 100.0)  # only the misbehaviour passes buffers through, not a busy machine
    recorder = gui.add("Record Node", python)
    record_dir.mkdir(exist_ok=True)
    gui.set(recorder, "directory", str(record_dir))
    status = gui.python_status(python)
    assert status["state"] == "ready" and status["mode"] == "isolated", status
    return python


def runs_of(record_dir: Path) -> list:
    """The recording as runs of ("doubled" | "input", samples), after checking that it has every sample
    of the run and that each sample is either the module's output or the input, untouched."""
    continuous = recorded(record_dir).continuous[0]
    numbers = np.asarray(continuous.sample_numbers, dtype=np.int64)
    assert len(numbers) > 0 and (np.diff(numbers) == 1).all()  # no sample missing
    stored = np.asarray(continuous.samples)[:, :8].astype(np.float64)
    doubled = (np.abs(stored - expected_steps(numbers, lambda uv: 2.0 * uv)) <= 1).all(axis=1)
    untouched = (np.abs(stored - expected_steps(numbers, lambda uv: uv)) <= 1).all(axis=1)
    assert (doubled | untouched).all(), "samples that are neither the input nor the module's output"
    kinds = np.where(doubled, 1, 0)  # channel 0 is a +-1000 uV square wave: never both
    edges = np.flatnonzero(np.diff(kinds)) + 1
    bounds = [0, *edges, len(kinds)]
    return [("doubled" if kinds[start] else "input", end - start) for start, end in zip(bounds, bounds[1:])]


def record_until(gui, python: int, condition, what: str, timeout: float = 60, then_seconds: float = 1.0) -> float:
    """Records until CONDITION(status) holds, then THEN_SECONDS more; stops, and returns how long stopping took."""
    gui.put("/api/status", {"mode": "RECORD"})
    try:
        wait_until(lambda: condition(gui.python_status(python)), what, timeout, 0.1)
        time.sleep(then_seconds)
    finally:
        started = time.monotonic()
        gui.put("/api/status", {"mode": "IDLE"})
    return time.monotonic() - started


def quit_without_a_kill(gui) -> None:
    """The GUI quits by itself (never killed) and leaves no worker behind."""
    pid = gui.process.pid
    gui.put("/api/quit", {})
    gui.process.wait(timeout=30)
    assert gui.process.returncode == 0
    assert workers_of(pid) == []


def test_a_three_second_stall_costs_only_its_own_buffers(session, input_file, tmp_path):
    python = python_chain(session, input_file, MISBEHAVING / "misbehaves.py", tmp_path / "rec", "stall")
    calls_after_stall = AT_BUFFER + 60
    stopping = record_until(session, python, lambda status: status["calls"] >= calls_after_stall,
                            "the module to run again after its stall")
    assert stopping < 10  # a bound, not a benchmark: a hang would take the HTTP timeout
    status = session.python_status(python)
    assert status["state"] == "ready" and status["late"] >= 100, status  # 3 s of 23 ms buffers passed it by
    runs = runs_of(tmp_path / "rec")
    assert [kind for kind, _ in runs][-3:] == ["doubled", "input", "doubled"], runs
    assert 2.5 * 30000 <= runs[-2][1] <= 4.5 * 30000  # the stall's 3 s went through untouched
    quit_without_a_kill(session)


def test_an_endless_loop_is_stuck_with_its_stack_stops_at_once_and_reloads(session, input_file, tmp_path):
    python = python_chain(session, input_file, MISBEHAVING / "misbehaves.py", tmp_path / "rec", "loop")
    stopping = record_until(session, python, lambda status: status["state"] == "stuck",
                            "the module to be called stuck", then_seconds=0.5)
    assert stopping < 10  # the stuck worker is stopped, not waited for (a hang would take the HTTP timeout)
    status = session.python_status(python)
    assert status["state"] == "crashed", status
    assert "stuck: a call into the module has not returned for" in status["details"]
    assert re.search(r'misbehaves.py", line (28|29) in misbehave', status["details"]), status["details"]
    runs = runs_of(tmp_path / "rec")
    assert [kind for kind, _ in runs][-2:] == ["doubled", "input"], runs
    assert runs[-1][1] >= 10 * 30000  # the 10 s before it was called stuck, and after
    started = time.monotonic()
    assert session.python_command(python, "reload")["state"] == "ready"
    assert time.monotonic() - started < 20
    quit_without_a_kill(session)


@pytest.mark.parametrize("how, cause, line", [
    ("segfault", "killed by SIGSEGV", 'misbehaves.py", line 31 in misbehave'),
    ("abort", "killed by SIGABRT", 'misbehaves.py", line 33 in misbehave'),
    ("exit", "exited with status 3", None),
])
def test_a_module_that_dies_is_reported_with_its_stack_and_reloads(how, cause, line, session, input_file, tmp_path):
    python = python_chain(session, input_file, MISBEHAVING / "misbehaves.py", tmp_path / "rec", how)
    stopping = record_until(session, python, lambda status: status["state"] == "crashed",
                            "the module's process to be reported dead")
    assert stopping < 10  # a bound, not a benchmark: a hang would take the HTTP timeout
    status = session.python_status(python)
    assert status["details"].startswith("the module's process died: " + cause), status
    if line:
        assert line in status["details"]
    runs = runs_of(tmp_path / "rec")
    assert [kind for kind, _ in runs][-2:] == ["doubled", "input"], runs
    assert session.python_command(python, "reload")["state"] == "ready"  # a new worker
    assert session.alive()
    quit_without_a_kill(session)


def test_a_worker_killed_from_outside_is_reported_and_the_data_go_on(session, input_file, tmp_path):
    python = python_chain(session, input_file, MISBEHAVING / "doubles.py", tmp_path / "rec")
    (worker,) = workers_of(session.process.pid)

    def killed(status) -> bool:
        if status["calls"] >= 40 and Path(f"/proc/{worker}").exists():
            os.kill(worker, signal.SIGKILL)
        return status["state"] == "crashed"

    record_until(session, python, killed, "the killed worker to be reported")
    assert "killed by SIGKILL" in session.python_status(python)["details"]
    runs = runs_of(tmp_path / "rec")
    assert [kind for kind, _ in runs][-2:] == ["doubled", "input"], runs
    quit_without_a_kill(session)


def test_a_chain_whose_module_loops_in_init_still_starts_the_gui(tmp_path, new_gui, input_file):
    """The chain is loaded at start (as lastConfig.xml would be): the GUI answers, the module shows as
    loading and then stuck with its stack, the data pass through, and the GUI quits."""
    tree = ET.parse(Path(__file__).parent / "data" / "chains" / "gui10_file_reader_python_record.xml")
    processors = {p.get("pluginName"): p for p in tree.iter("PROCESSOR")}
    processors["File Reader"].find("PROCESSOR_PARAMETERS").set("selected_file", str(input_file))
    python = processors["Python Processor"].find("PROCESSOR_PARAMETERS")
    python.set("python_home", str(current_python_home()))
    shutil.copy(MISBEHAVING / "loops_in_init.py", tmp_path / "loops_in_init.py")
    python.set("script_path", str(tmp_path / "loops_in_init.py"))
    (tmp_path / "rec").mkdir()
    processors["Record Node"].find("PROCESSOR_PARAMETERS").set("directory", str(tmp_path / "rec"))
    chain_file = tmp_path / "chain.xml"
    tree.write(chain_file, encoding="UTF-8", xml_declaration=True)

    gui = new_gui()
    gui.start(chain_file)
    node = int(processors["Python Processor"].get("nodeId"))
    assert gui.python_status(node)["state"] in ("loading", "stuck")  # stuck once 10 s have passed
    stuck = wait_until(lambda: (lambda status: status if status["state"] == "stuck" else None)(
        gui.python_status(node)), "the module to be called stuck", 30, 0.2)
    assert "loading the module (its import or __init__)" in stuck["details"]
    assert re.search(r'loops_in_init.py", line [67] in __init__', stuck["details"]), stuck["details"]
    stopping = record_until(gui, node, lambda status: True, "recording", then_seconds=1.5)
    assert stopping < 10
    assert [kind for kind, _ in runs_of(tmp_path / "rec")] == ["input"]
    quit_without_a_kill(gui)
