"""Live values: the engine's ring, written by modules in the real host, read with oe_pyproc.live.

The modules wait for the test's go-ahead files (tests/scripts/live_publisher.py), so what a reader
sees never depends on timing: a keeping-up reader reads each burst before the next is allowed, a
stalled reader reads only once the host has written everything."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import SCRIPTS
from oe_pyproc import live
from oe_pyproc.host import host_command
from support import build_helper, wait_until

DATA = Path(__file__).parent / "data"
RING_SOURCES = Path(__file__).resolve().parents[1] / "cpp" / "common"  # the live ring and its layout table
INPUT = "synthetic:channels=4,rate=30000,seconds=0.5,block=1000"  # 15 blocks


@pytest.fixture
def live_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "live"
    monkeypatch.setenv("OE_PYPROC_LIVE_DIR", str(folder))
    return folder


class Gate:
    """The go-ahead files a live_publisher module waits for."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir()

    def open(self, name: str) -> None:
        (self.folder / name).touch()


def start_host(python_home, scripts, params=(), instances=1, input_source=INPUT) -> subprocess.Popen:
    extra = [arg for param in params for arg in ("--param", param)]
    command = host_command([str(s) for s in scripts], python_home, input_source=input_source,
                           instances=instances, extra=extra)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(host: subprocess.Popen) -> dict:
    stdout, stderr = host.communicate(timeout=120)
    assert host.returncode == 0, stderr
    return json.loads(stdout)


def running_instances(directory: Path, count: int, host: subprocess.Popen):
    def found():
        assert host.poll() is None, host.communicate()[1]
        return [i for i in live.instances(directory) if i.program == "pyproc-host"] if directory.is_dir() else []
    return wait_until(lambda: len(found()) >= count and found(), "%d running instances" % count)


def test_a_reader_that_keeps_up_receives_every_frame(python_home, live_dir, tmp_path):
    gate = Gate(tmp_path / "gate")
    bursts, burst = 10, 3000  # 30,000 frames: the 4,096-slot index wraps seven times
    host = start_host(python_home, [SCRIPTS / "live_publisher.py"],
                      [f"gate={gate.folder}", f"bursts={bursts}", f"burst={burst}", "hold=true"])
    (instance,) = running_instances(live_dir, 1, host)
    reader = instance.reader("oldest")
    values, samples = [], []
    for k in range(bursts):
        gate.open(f"go_{k}")
        while len(values) < (k + 1) * burst:  # slow: a few hundred frames at a time
            frames = reader.read(max_frames=300)
            values += [f.value for f in frames if f.name == "count"]
            samples += [f.sample_number for f in frames if f.name == "count"]
            time.sleep(0.001)
    gate.open("release")
    finish(host)
    assert reader.lost == 0
    assert values == list(range(bursts * burst))
    assert samples == [1000 * (i // burst) for i in range(bursts * burst)], "stamped with each buffer's first sample"
    assert instance.names() == {"count": ("scalar", bursts * burst)}
    assert not instance.alive and instance.ended


@pytest.mark.parametrize("image_kib", [0, 64], ids=["index-bound", "data-bound"])
def test_a_stalled_reader_loses_only_the_oldest_frames(python_home, live_dir, tmp_path, monkeypatch, image_kib):
    monkeypatch.setenv("OE_PYPROC_LIVE_MB", "1")  # 1 MiB of data: 15 images of 64 KiB
    gate = Gate(tmp_path / "gate")
    total = 20000 if not image_kib else 200
    host = start_host(python_home, [SCRIPTS / "live_publisher.py"],
                      [f"gate={gate.folder}", "bursts=1", f"burst={total}", f"image_kib={image_kib}", "hold=true"])
    (instance,) = running_instances(live_dir, 1, host)
    reader = instance.reader("oldest")
    gate.open("go_0")
    name = "image" if image_kib else "count"
    wait_until(lambda: instance.names().get(name, ("", 0))[1] == total, "every value published")
    frames = reader.read()  # the reader wakes up only now
    late = instance.reader("oldest")  # one that starts now: it lost nothing, it begins at the oldest intact
    late_frames = late.read()
    gate.open("release")
    finish(host)
    published = [f for f in frames if f.name == name]
    values = [int(f.value.flat[0]) if image_kib else int(f.value) for f in published]
    assert 0 < len(values) < total and values[-1] == total - 1
    assert values == list(range(values[0], total)), "what is left is the newest frames, in order"
    if image_kib:
        assert all(np.all(f.value == v) and f.value.shape == (image_kib, 256) for f, v in zip(published, values))
    first = frames[0].seq
    assert reader.lost == first, "every frame before the first one read is counted lost, none after"
    assert [f.seq for f in frames] == list(range(first, first + len(frames)))
    late_seqs = [f.seq for f in late_frames]  # the ring moved on meanwhile: events of later buffers
    assert late.lost == 0 and late_seqs == list(range(late_seqs[0], late_seqs[0] + len(late_seqs)))
    assert frames[0].seq <= late_seqs[0] and frames[-1].seq in late_seqs


def test_two_instances_publish_under_their_own_names(python_home, live_dir, tmp_path):
    gate = Gate(tmp_path / "gate")
    first = tmp_path / "first.py"
    second = tmp_path / "second.py"
    for script in (first, second):
        script.write_text((SCRIPTS / "live_publisher.py").read_text())
    host = start_host(python_home, [first, second],
                      [f"gate={gate.folder}", "bursts=3", "burst=5", "hold=true"])
    instances = running_instances(live_dir, 2, host)
    gate.open("go_0"), gate.open("go_1"), gate.open("go_2")
    wait_until(lambda: all(i.names().get("count", ("", 0))[1] == 15 for i in instances), "both published")
    by_name = {i.name: i for i in instances}
    gate.open("release")
    finish(host)
    assert set(by_name) == {"first", "second"}
    assert {i.node_id for i in instances} == {101, 102}
    assert len({i.key for i in instances}) == 2 and len({i.path for i in instances}) == 2
    for instance in instances:
        frames = instance.reader().read()
        assert {f.instance for f in frames} == {instance.key}
        assert [f.value for f in frames if f.name == "count"] == list(range(15))


def test_a_module_thread_publishes_beside_process(python_home, live_dir, tmp_path):
    gate = Gate(tmp_path / "gate")
    host = start_host(python_home, [SCRIPTS / "live_publisher.py"],
                      [f"gate={gate.folder}", "bursts=15", "burst=50", "thread=true", "hold=true"])
    (instance,) = running_instances(live_dir, 1, host)
    reader = instance.reader("oldest")
    for k in range(15):
        gate.open(f"go_{k}")
    wait_until(lambda: instance.names().get("thread_count", ("", 0))[1] == 200
               and instance.names()["count"][1] == 750, "the thread's and process()'s values")
    frames = reader.read()
    gate.open("release")
    finish(host)
    assert reader.lost == 0
    assert [f.value for f in frames if f.name == "thread_count"] == list(range(200))
    assert [f.value for f in frames if f.name == "count"] == list(range(750))
    stamps = [f.sample_number for f in frames if f.name == "thread_count"]
    assert stamps == sorted(stamps), "a thread's values carry the last buffer begun"


def test_a_wrong_value_raises_an_error_naming_the_argument(python_home, live_dir, tmp_path):
    from oe_pyprocessor.testing import run_module

    engine_out, stand_in_out = tmp_path / "engine.json", tmp_path / "stand_in.json"
    host = start_host(python_home, [SCRIPTS / "live_bad_values.py"], [f"out={engine_out}"])
    finish(host)
    run_module(SCRIPTS / "live_bad_values.py", np.zeros((2, 100), np.float32), 30000.0,
               params={"out": str(stand_in_out)})
    raised = json.loads(engine_out.read_text())
    assert raised == json.loads(stand_in_out.read_text()), "the stand-in refuses with the engine's words"
    assert None not in raised.values(), raised
    for label, argument in [("a string", "value"), ("a 3-D array", "value"), ("a 3-D float picture", "value"),
                            ("None", "value"), ("complex", "value"), ("an empty array", "value"),
                            ("a name that is not a str", "name"), ("an empty name", "name"),
                            ("a name of 64 bytes", "name"), ("x for a scalar", "x"), ("x of another length", "x"),
                            ("x that is text", "x")]:
        assert f"publish(): {argument} " in raised[label], (label, raised[label])
    assert raised["a string"].startswith("TypeError: publish(): value must be a number")
    assert "shape (2, 3, 5)" in raised["a 3-D array"]
    assert raised["another kind for a name"] == ("TypeError: publish(): 'kept' was published as a scalar, so it "
                                                 "cannot take a curve; use another name")


def test_the_stand_in_records_what_is_published():
    from oe_pyprocessor import PythonProcessor

    processor = PythonProcessor(num_channels=2)
    processor.begin_block(3000, 1000)
    processor.publish("power", np.float64(2.5))
    processor.publish("spectrum", np.arange(4, dtype=np.float64), x=[0, 10, 20, 30])
    processor.publish("frame", np.zeros((2, 3, 3), np.uint8))
    power, spectrum, frame = processor.published
    assert (power.name, power.kind, power.sample_number, power.value) == ("power", "scalar", 3000, 2.5)
    assert spectrum.kind == "curve" and spectrum.value.dtype == np.float32 and list(spectrum.x) == [0, 10, 20, 30]
    assert frame.kind == "picture" and frame.value.shape == (2, 3, 4) and np.all(frame.value[..., 3] == 255)
    samples, values = processor.published_values("power")
    assert list(samples) == [3000] and values == [2.5]


@pytest.mark.parametrize("case", json.loads((DATA / "live_dir_cases.json").read_text()),
                         ids=lambda case: f"{case['platform']}-{'-'.join(case['environ']) or 'default'}")
def test_the_live_dir_rule(case):
    found = live.live_dir(case["platform"], case["environ"], case["uid"], case["dev_shm"])
    assert str(found) == case["expected"]


@pytest.fixture(scope="module")
def engine_live_dir_rule(tmp_path_factory) -> Path:
    return build_helper(tmp_path_factory.mktemp("live") / "live_dir_check",
                        [RING_SOURCES / "live_ring.cpp", Path(__file__).parent / "live" / "live_dir_check.cpp"],
                        "the engine's live folder rule", includes=[RING_SOURCES])


@pytest.mark.parametrize("case", json.loads((DATA / "live_dir_cases.json").read_text()),
                         ids=lambda case: f"{case['platform']}-{'-'.join(case['environ']) or 'default'}")
def test_the_engine_follows_the_same_live_dir_rule(engine_live_dir_rule, case):
    """Every row of the shared table through the engine's own rule, each platform's branch included."""
    shown = subprocess.run([str(engine_live_dir_rule), case["platform"], str(case["uid"]), "1" if case["dev_shm"] else "0",
                            *[f"{name}={value}" for name, value in case["environ"].items()]],
                           capture_output=True, text=True, check=True)
    assert shown.stdout.rstrip("\n") == case["expected"]


@pytest.fixture(scope="module")
def cpp_ring_reader(tmp_path_factory) -> Path:
    if sys.platform == "win32":
        pytest.skip("the check maps its ring with POSIX mmap")
    return build_helper(tmp_path_factory.mktemp("ring_read") / "ring_read_check",
                        [RING_SOURCES / "live_ring.cpp", Path(__file__).parent / "live" / "ring_read_check.cpp"],
                        "the C++ ring reader", includes=[RING_SOURCES, Path(__file__).resolve().parents[1] / "cpp" / "include"])


@pytest.mark.parametrize("capacity, frames", [(4096, 10), (4096, 1000), (4096, 5000), (65536, 100000)],
                         ids=["all-there", "data-overwritten", "index-and-data-overwritten", "long"])
def test_both_readers_start_at_the_oldest_intact_frame(cpp_ring_reader, tmp_path, capacity, frames):
    """One rule for where a reader starts: the oldest frame whose slot and data are both still there, so that
    a reader started late has lost nothing. The C++ reader (pyproc-host) and oe_pyproc.live's read the same
    ring, written by the engine's own writer with the frames' data wrapping the data area."""
    path = tmp_path / "ring.oepylive"
    first, read, lost = subprocess.run([str(cpp_ring_reader), str(path), str(capacity), str(frames)],
                                       capture_output=True, text=True, check=True).stdout.split()
    frames_read = live.Instance(path).reader("oldest").read()
    python = [frames_read[0].value if frames_read else -1.0, len(frames_read)]
    assert [float(first), int(read), int(lost)] == python + [0]
    assert python[0] + python[1] == frames  # every frame from the first intact one to the last
    if frames > 10:
        assert python[0] > 0  # the case reaches the overwritten frames it is about


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the engine's default live dir is checked on Linux")
@pytest.mark.parametrize("variable", ["OE_PYPROC_LIVE_DIR", None], ids=["variable", "default"])
def test_the_engine_and_the_client_agree_on_the_live_dir(python_home, tmp_path, monkeypatch, variable):
    monkeypatch.delenv("OE_PYPROC_LIVE_DIR", raising=False)
    if variable:
        monkeypatch.setenv(variable, str(tmp_path / "chosen"))
    gate = Gate(tmp_path / "gate")
    host = start_host(python_home, [SCRIPTS / "live_publisher.py"], [f"gate={gate.folder}", "hold=true"])
    try:
        mine = running_instances(live.live_dir(), 1, host)
        assert [i.pid for i in mine if i.pid == host.pid] == [host.pid]
    finally:
        gate.open("release")
        finish(host)


def test_ring_files_of_dead_processes_are_removed(python_home, live_dir, tmp_path):
    gate = Gate(tmp_path / "gate")
    host = start_host(python_home, [SCRIPTS / "live_publisher.py"], [f"gate={gate.folder}", "hold=true"])
    (instance,) = running_instances(live_dir, 1, host)
    stale = live_dir / "stale.oelive"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    contents = bytearray(instance.path.read_bytes())
    contents[16:24] = dead.pid.to_bytes(8, "little")  # the header's pid: a process that has ended
    stale.write_bytes(bytes(contents))
    assert [i.key for i in live.instances(live_dir)] == [instance.key]
    assert not stale.exists()
    gate.open("release")
    finish(host)
    assert not instance.path.exists(), "the engine removes its ring when the instance ends"
    assert live.instances(live_dir) == []


def test_frames_follows_instances_that_start_later(python_home, live_dir, tmp_path):
    gate = Gate(tmp_path / "gate")
    live_dir.mkdir()
    received = []
    stop = threading.Event()

    def follow():
        for frame in live.frames(directory=live_dir, poll_interval=0.005, rescan_interval=0.01):
            if frame.name == "count":
                received.append(frame.value)
            if stop.is_set() or len(received) == 6:
                return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    host = start_host(python_home, [SCRIPTS / "live_publisher.py"],
                      [f"gate={gate.folder}", "bursts=2", "burst=3", "hold=true"])
    running_instances(live_dir, 1, host)
    gate.open("go_0"), gate.open("go_1")
    wait_until(lambda: len(received) == 6, "the follower to see all six values")
    gate.open("release")
    finish(host)
    stop.set()
    assert received == [0, 1, 2, 3, 4, 5]


def test_the_notebook_example_collects_published_values(python_home, live_dir, tmp_path):
    import runpy

    example = runpy.run_path(str(Path(__file__).parents[1] / "docs" / "examples" / "live_in_notebook.py"),
                             run_name="live_in_notebook")
    gate = Gate(tmp_path / "gate")
    host = start_host(python_home, [SCRIPTS / "live_publisher.py"],
                      [f"gate={gate.folder}", "bursts=4", "burst=2", "hold=true"])
    (instance,) = running_instances(live_dir, 1, host)
    collected = []
    collector = threading.Thread(target=lambda: collected.append(example["collect"]("count", 6, instance, "oldest")))
    collector.start()
    for k in range(4):
        gate.open(f"go_{k}")
    collector.join(timeout=60)
    gate.open("release")
    finish(host)
    seconds, values = collected[0]
    assert list(values) == [0, 1, 2, 3, 4, 5]
    assert np.all(np.diff(seconds) >= 0)


# -- the ring's layout: one table (cpp/common/live_layout.def) that both languages are checked against ---------



def test_the_client_reads_the_installed_table_the_engine_was_built_from():
    from oe_pyproc import live_layout

    installed = live_layout.TABLE_PLACES[0]
    assert installed.is_file(), "the package ships live_layout.def beside live.py"
    assert installed.read_text() == (RING_SOURCES / "live_layout.def").read_text()
    assert live.MAGIC == b"OEPYLIV1" and live.KINDS[-1] == "event" and live.DIRECTIONS == ("received", "sent")


def test_the_embedded_runtime_checks_published_names_by_the_table():
    """The runtime is embedded in the engine without the table beside it: its limits are held to the table."""
    from oe_pyprocessor import _runtime as engine_runtime

    assert engine_runtime.KINDS == tuple(kind for kind in live.KINDS if kind != "event")
    assert engine_runtime.MAX_NAMES == live.NAME_SLOTS
    assert engine_runtime.MAX_NAME_BYTES == live.MAX_NAME_BYTES < live.NAME_BYTES


@pytest.mark.parametrize("change, problem", [
    ("LIVE_FIELD(Header, ended, 88, 4, I)", "LIVE_FIELD(Header, ended, 88, 4, Q)"),
    ("LIVE_FIELD(Header, ended, 88, 4, I)", "LIVE_FIELD(Header, ended, 84, 4, I)"),
], ids=["code-not-its-size", "overlaps-the-field-before"])
def test_the_client_refuses_a_table_that_contradicts_itself(change, problem):
    from oe_pyproc import live_layout

    text = (RING_SOURCES / "live_layout.def").read_text()
    assert change in text
    with pytest.raises(ValueError, match="Header.ended"):
        live_layout.read_table(text.replace(change, problem))


@pytest.mark.parametrize("change, problem", [
    ("LIVE_FIELD(Header, ended, 88, 4, I)", "LIVE_FIELD(Header, ended, 92, 4, I)"),
    ("LIVE_STRUCT(NameEntry, 128)", "LIVE_STRUCT(NameEntry, 120)"),
    ("LIVE_FIELD(FrameHeader, shape, 16, 8, 2I)", "LIVE_FIELD(FrameHeader, shape, 16, 4, I)"),
], ids=["moved-field", "struct-size", "field-size"])
def test_the_engine_does_not_build_against_a_table_its_structs_contradict(tmp_path, change, problem):
    compiler = next((found for found in map(shutil.which, ("c++", "g++")) if found), None)
    if compiler is None:
        pytest.skip("no C++ compiler (c++) to compile the engine's ring against a changed table")
    for name in ("live_ring.h", "live_ring.cpp"):
        shutil.copy(RING_SOURCES / name, tmp_path / name)
    text = (RING_SOURCES / "live_layout.def").read_text()
    assert change in text
    (tmp_path / "live_layout.def").write_text(text.replace(change, problem))
    built = subprocess.run([compiler, "-std=c++17", "-fsyntax-only", str(tmp_path / "live_ring.cpp")],
                           capture_output=True, text=True)
    assert built.returncode != 0 and "live_layout.def: " in built.stderr, built.stderr
    (tmp_path / "live_layout.def").write_text(text)
    assert subprocess.run([compiler, "-std=c++17", "-fsyntax-only", str(tmp_path / "live_ring.cpp")]).returncode == 0
