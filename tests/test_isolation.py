"""Isolated mode at the desk: pyproc-host runs each module in a worker process (cpp/isolation), through
the same code as the GUI plugin. A module that stalls, loops, segfaults, aborts, exits or is killed
never takes the run down: every buffer is in the recording, doubled where the module ran and
untouched where it did not, and the summary names the cause with the Python stack."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import continuous_int16
from oe_pyproc.host import HostRun, current_python_home, host_command, run_host
from support import wait_until, workers_of

MISBEHAVING = Path(__file__).parent / "misbehaving"
BLOCK = 1000
AT_BUFFER = 10


def source(seconds: float) -> str:
    return f"synthetic:channels=4,rate=30000,seconds={seconds},block={BLOCK}"


def run_isolated(script: str, tmp_path: Path, seconds: float, *extra: str, how: str = "", during=None):
    """Runs tests/misbehaving/SCRIPT isolated, at real time (so that a stall costs buffers), with a deadline
    generous enough that only the misbehaviour passes buffers through (not a busy machine); misbehaves.py
    misbehaves as HOW says at buffer AT_BUFFER. DURING(host_process) runs beside it. Returns the run and
    its recording's folder."""
    output = tmp_path / "out"
    command = host_command([str(MISBEHAVING / script)], current_python_home(), input_source=source(seconds),
                           output=str(output),
                           extra=["--isolated", "--realtime", "--deadline-ms", "200", "--timeout", "60",
                                  *(["--param", f"at_buffer={AT_BUFFER}", "--param", f"how={how}"] if how else []),
                                  *extra])
    if during is None:
        return run_host(command, echo=lambda line: None), output
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        during(process)
    finally:
        stdout, stderr = process.communicate(timeout=90)
    return HostRun(process.returncode, json.loads(stdout) if stdout.strip() else None, stderr, command), output


@pytest.fixture(scope="module")
def doubled(tmp_path_factory) -> np.ndarray:
    """The recording of the well-behaved twin (in-process): the whole input doubled."""
    output = tmp_path_factory.mktemp("reference") / "out"
    run = run_host(host_command([str(MISBEHAVING / "doubles.py")], current_python_home(), input_source=source(6),
                                output=str(output)), echo=lambda line: None)
    assert run.returncode == 0, run.stderr
    return continuous_int16(output).astype(np.int64)


def block_kinds(recorded: np.ndarray, doubled: np.ndarray) -> list:
    """Per buffer of the recording: "doubled" (equal to the well-behaved run) or "untouched" (half of it,
    within the int16 rounding of both); anything else fails the test."""
    kinds = []
    for start in range(0, len(recorded), BLOCK):
        got = recorded[start:start + BLOCK].astype(np.int64)
        want = doubled[start:start + BLOCK]
        if np.array_equal(got, want):
            kinds.append("doubled")
        elif np.abs(2 * got - want).max() <= 2 and np.abs(want).max() > 20:
            kinds.append("untouched")
        else:
            raise AssertionError(f"buffer {start // BLOCK} is neither the module's output nor its input")
    return kinds


def check_recording(output: Path, doubled: np.ndarray, seconds: float, late: int) -> list:
    """Every sample of the run is recorded, each buffer doubled or untouched, and as many untouched as
    the summary counts late. Returns the kinds."""
    recorded = continuous_int16(output)
    assert len(recorded) == int(seconds * 30000)
    kinds = block_kinds(recorded, doubled[:len(recorded)])
    assert kinds.count("untouched") == late
    return kinds


@pytest.mark.parametrize("how, cause, line", [
    ("segfault", "killed by SIGSEGV", 'misbehaves.py", line 31 in misbehave'),
    ("abort", "killed by SIGABRT", 'misbehaves.py", line 33 in misbehave'),
    ("exit", "exited with status 3", None),
])
def test_a_module_that_dies_leaves_every_buffer_recorded_and_names_the_cause(how, cause, line, tmp_path, doubled):
    run, output = run_isolated("misbehaves.py", tmp_path, 2, how=how)
    instance = run.summary["instances"][0]
    assert instance["state"] == "crashed", instance
    assert instance["error"].startswith("the module's process died: " + cause), instance["error"]
    if line:
        assert line in instance["error"]  # faulthandler's stack of the dying thread
    assert run.returncode == 1 and f"crashed: the module's process died: {cause}" in run.reason
    kinds = check_recording(output, doubled, 2, instance["late"])
    assert kinds[:AT_BUFFER - 1].count("doubled") >= AT_BUFFER - 3  # before: the module ran (a late one may pass)
    assert set(kinds[AT_BUFFER - 1:]) == {"untouched"}  # from the fatal buffer on: the input, unchanged


def test_a_stall_costs_only_the_buffers_it_spans(tmp_path, doubled):
    run, output = run_isolated("misbehaves.py", tmp_path, 5, how="stall")
    instance = run.summary["instances"][0]
    assert instance["state"] == "ready" and run.returncode == 0, instance
    kinds = check_recording(output, doubled, 5, instance["late"])
    # The stalled buffer and those of the next 3 s pass through; then the module runs again.
    assert kinds[AT_BUFFER - 1] == "untouched"
    assert 80 <= kinds.count("untouched") <= 100
    assert kinds[-20:] == ["doubled"] * 20


def test_an_endless_loop_is_called_stuck_with_its_stack_and_stopped_at_the_end(tmp_path, doubled):
    started = time.monotonic()
    run, output = run_isolated("misbehaves.py", tmp_path, 3, "--stuck-after", "1", how="loop")
    assert time.monotonic() - started < 20  # stop acquisition does not wait for the loop
    instance = run.summary["instances"][0]
    assert instance["state"] == "crashed", instance
    assert "stuck: a call into the module has not returned for" in instance["error"]
    assert re.search(r'misbehaves.py", line (28|29) in misbehave', instance["error"])  # the loop's line
    kinds = check_recording(output, doubled, 3, instance["late"])
    assert set(kinds[AT_BUFFER - 1:]) == {"untouched"}


def test_an_endless_loop_in_init_is_stuck_while_loading_and_the_data_pass(tmp_path, doubled):
    run, output = run_isolated("loops_in_init.py", tmp_path, 1, "--stuck-after", "1")
    instance = run.summary["instances"][0]
    assert instance["state"] == "crashed", instance
    assert "stuck: loading the module (its import or __init__) has not returned" in instance["error"]
    assert re.search(r'loops_in_init.py", line [67] in __init__', instance["error"])
    assert set(check_recording(output, doubled, 1, instance["late"])) == {"untouched"}


def test_a_worker_killed_from_outside_is_reported_and_no_worker_outlives_the_host(tmp_path, doubled):
    workers = []

    def kill_the_worker(process):
        workers.extend(wait_until(lambda: workers_of(process.pid), "the host to start its worker", 20))
        time.sleep(1)
        os.kill(workers[0], signal.SIGKILL)

    run, output = run_isolated("doubles.py", tmp_path, 3, during=kill_the_worker)
    instance = run.summary["instances"][0]
    assert instance["state"] == "crashed" and "killed by SIGKILL" in instance["error"], instance
    kinds = check_recording(output, doubled, 3, instance["late"])
    assert kinds[0] == "doubled" and kinds[-1] == "untouched"
    assert not Path(f"/proc/{workers[0]}").exists()  # reaped: not even a zombie


def shared_memory_names(pid: int) -> list:
    """The POSIX shared memory names a process made for its workers (/oepp-<pid>-...)."""
    return sorted(path.name for path in Path("/dev/shm").glob(f"oepp-{pid}-*"))


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="POSIX shared memory names live in /dev/shm on Linux only")
def test_a_worker_ends_with_its_host(tmp_path):
    """A host killed outright (no chance to stop its worker): the worker sees its parent go and ends, and
    no shared memory is left in /dev/shm (the worker removed its name once it had mapped it)."""
    command = host_command([str(MISBEHAVING / "doubles.py")], current_python_home(), input_source=source(30),
                           extra=["--isolated", "--realtime"])
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        (worker,) = wait_until(lambda: workers_of(process.pid), "the host to start its worker", 20)
        wait_until(lambda: not shared_memory_names(process.pid),
                   lambda: f"the worker to remove the name of its shared memory: {shared_memory_names(process.pid)}", 5)
        process.kill()
        process.wait()
        wait_until(lambda: not Path(f"/proc/{worker}").exists() or
                   (Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z"),
                   "the worker to end after its host", 5)
    finally:
        if process.poll() is None:
            process.kill()


def test_the_command_line_runs_a_module_isolated(tmp_path):
    """`oe-pyproc run --isolated` and `--in-process` reach the host; the summary says which ran."""
    modes = []
    for flag in ("--isolated", "--in-process"):
        done = subprocess.run([sys.executable, "-m", "oe_pyproc", "run", str(MISBEHAVING / "doubles.py"), flag,
                               "--input", source(0.2), "--json"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["instances"][0]["state"] == "ready"
        modes.append(summary["mode"])
    assert modes == ["isolated", "in-process"]


def test_a_block_longer_than_the_workers_memory_is_refused_up_front(tmp_path):
    run = run_host(host_command([str(MISBEHAVING / "doubles.py")], current_python_home(),
                                input_source="synthetic:channels=4,rate=30000,seconds=1,block=9000",
                                extra=["--isolated", "--block", "9000"]), echo=lambda line: None)
    assert run.returncode == 2 and "--isolated takes blocks of at most 8192 samples" in run.reason


def can_run_realtime() -> bool:
    try:
        probe = subprocess.run(["true"], preexec_fn=lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(20)))
    except (AttributeError, PermissionError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


@pytest.mark.skipif(sys.platform != "linux" or not can_run_realtime(),
                    reason="needs Linux and the right to real-time priority (root or an rtprio limit)")
def test_the_worker_runs_at_the_audio_priority_until_it_is_late(tmp_path):
    """A host whose threads are SCHED_FIFO 20, as a GUI under a real-time JACK: the module loads at the
    normal priority, runs at 19 while acquiring (below the audio thread, whose wake must preempt the
    worker's spin), its own threads at the normal one; one late buffer puts it back to normal."""
    seen = tmp_path / "seen.json"
    script = tmp_path / "reports_priority.py"
    script.write_text(f'''
import json, os, threading, time

def policy():
    return [os.sched_getscheduler(0), os.sched_getparam(0).sched_priority]

class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.buffers = 0
        self.seen = {{"loading": policy()}}

    def process(self, data):
        self.buffers += 1
        if self.buffers == 10:
            self.seen["acquiring"] = policy()
            thread = threading.Thread(target=lambda: self.seen.__setitem__("its_thread", policy()))
            thread.start()
            thread.join()
        if self.buffers == 20:
            time.sleep(0.4)
        if self.buffers == 40:
            self.seen["after_late"] = policy()
            with open({str(seen)!r}, "w") as out:
                json.dump(self.seen, out)
''')
    command = host_command([str(script)], current_python_home(), input_source=source(3), output=None,
                           extra=["--isolated", "--realtime", "--deadline-ms", "100", "--timeout", "60"])
    done = subprocess.run(command, capture_output=True, text=True, timeout=90,
                          preexec_fn=lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(20)))
    assert done.returncode == 0, done.stderr
    instance = json.loads(done.stdout)["instances"][0]
    assert instance["late"] > 0 and instance["worker_priority"] == 0, instance
    assert json.loads(seen.read_text()) == {
        "loading": [os.SCHED_OTHER, 0],
        "acquiring": [os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, 19],
        "its_thread": [os.SCHED_OTHER, 0],
        "after_late": [os.SCHED_OTHER, 0],
    }


@pytest.mark.skipif(sys.platform != "linux", reason="the audio priority is followed on Linux only")
def test_the_worker_keeps_the_normal_priority_under_a_normal_host(tmp_path):
    seen = tmp_path / "seen.json"
    script = tmp_path / "reports_priority.py"
    script.write_text(f'''
import json, os

class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.buffers = 0

    def process(self, data):
        self.buffers += 1
        if self.buffers == 10:
            with open({str(seen)!r}, "w") as out:
                json.dump([os.sched_getscheduler(0), os.sched_getparam(0).sched_priority], out)
''')
    run = run_host(host_command([str(script)], current_python_home(), input_source=source(1), output=None,
                                extra=["--isolated"]), echo=lambda line: None)
    assert run.returncode == 0, run.stderr
    assert run.summary["instances"][0]["worker_priority"] == 0
    assert json.loads(seen.read_text()) == [os.SCHED_OTHER, 0]


@pytest.mark.skipif(sys.platform != "linux" or not can_run_realtime() or not shutil.which("setpriv"),
                    reason="needs Linux, the right to real-time priority and setpriv (util-linux)")
def test_a_refused_audio_priority_is_reported(tmp_path):
    """A host at SCHED_FIFO 20 whose user may not take real-time priority (setpriv drops CAP_SYS_NICE, and
    the rtprio limit is 0): the worker stays at the normal priority and says it was refused (-1)."""
    import resource  # POSIX only
    script = tmp_path / "passes.py"
    script.write_text("class PyProcessor:\n    def __init__(self, processor, num_channels, sample_rate):\n"
                      "        pass\n\n    def process(self, data):\n        pass\n")
    command = host_command([str(script)], current_python_home(), input_source=source(1), output=None,
                           extra=["--isolated", "--realtime"])
    done = subprocess.run(["setpriv", "--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice", *command],
                          capture_output=True, text=True, timeout=90,
                          preexec_fn=lambda: (os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(20)),
                                              resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["instances"][0]["worker_priority"] == -1
