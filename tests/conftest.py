"""Fixtures that drive the real pyproc-host process through the real engine."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from oe_pyproc.host import HostRun, current_python_home, host_command, host_executable, run_host

SCRIPTS = Path(__file__).parent / "scripts"
BIT_VOLTS = 0.195


@pytest.fixture(scope="session")
def python_home() -> Path:
    """The env running the tests: `pip install .` put its engine there."""
    return current_python_home()


@pytest.fixture(scope="session")
def host() -> Path:
    return host_executable()


class Host:
    """Runs pyproc-host on scripts copied into a scratch folder."""

    def __init__(self, python_home: Path, workdir: Path, mode: str = "in-process"):
        self.python_home = python_home
        self.workdir = workdir
        self.mode = mode  # "in-process" (the host's default) or "isolated"
        self.runs = 0

    def script(self, name: str, source: str | None = None) -> Path:
        """A copy of tests/scripts/<name> (or the given source) in the scratch folder."""
        path = self.workdir / name
        if source is None:
            shutil.copy(SCRIPTS / name, path)
        else:
            path.write_text(source)
        return path

    def run(self, *scripts: Path, input_source: str = "synthetic:channels=8,rate=30000,seconds=0.5,block=1000",
            output: bool = True, instances: int = 1, extra=(), python_home: Path | None = None) -> HostRun:
        self.runs += 1
        out = self.workdir / f"out{self.runs}" if output else None
        command = host_command([str(s) for s in scripts], python_home or self.python_home,
                               input_source=input_source, output=out, instances=instances,
                               extra=[*extra, *(["--isolated"] if self.mode == "isolated" else [])])
        result = run_host(command, echo=lambda line: None)
        result.output_dir = out
        return result


@pytest.fixture
def pyhost(python_home, tmp_path) -> Host:
    return Host(python_home, tmp_path)


@pytest.fixture(params=["in-process", "isolated"])
def pyhost_each_mode(python_home, tmp_path, request) -> Host:
    """pyhost in each mode, for the behaviours that must not depend on it (fidelity, parameters)."""
    return Host(python_home, tmp_path, mode=request.param)


def recording(output_dir: Path):
    """The recording written by the host, opened with open-ephys-python-tools."""
    from open_ephys.analysis import Session

    session = Session(str(output_dir))
    return session.recordnodes[0].recordings[0]


def continuous_int16(output_dir: Path) -> np.ndarray:
    """samples x channels as stored (int16)."""
    return np.asarray(recording(output_dir).continuous[0].samples)


def events_of(output_dir: Path, node_id: int):
    events = recording(output_dir).events
    if events is None:
        return events
    return events[events.processor_id == node_id]


def quantize(microvolts: np.ndarray) -> np.ndarray:
    """What the recording stores for float32 microvolts: the Record Node's rounding."""
    return np.clip(np.rint(microvolts.astype(np.float32).astype(np.float64) / BIT_VOLTS), -32768, 32767).astype(np.int16)


def read_log(path: Path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def spike_channel_name(spikes) -> str:
    """Its name in open-ephys-python-tools 1.x (a dataclass) and 0.1.x (a dict)."""
    metadata = spikes.metadata
    return metadata["name"] if isinstance(metadata, dict) else metadata.name


def write_recording(folder: Path, samples_uv, sample_rate: float, bit_volts: float = BIT_VOLTS) -> Path:
    """Writes SAMPLES_UV (samples x channels, or one channel as 1-D) as an Open Ephys binary recording.

    The layout is GUI 1.0's Record Node, as cpp/host/recording_writer.cpp writes it and as
    open-ephys-python-tools and the host read it: <folder>/Record Node 100/experiment1/recording1/
    with structure.oebin, continuous/File_Reader-100.example_data/{continuous.dat, sample_numbers.npy,
    timestamps.npy} and sync_messages.txt; no events or spikes. Values are stored as int16 steps of
    bit_volts (nearest, ties to even), so the host reads back step * bit_volts. Returns FOLDER, to be
    passed as the host's input.
    """
    samples = np.asarray(samples_uv, dtype=np.float64)
    if samples.ndim == 1:
        samples = samples[:, np.newaxis]
    if samples.ndim != 2 or samples.shape[0] < 1 or samples.shape[1] < 1:
        raise ValueError(f"samples_uv must be samples x channels, got shape {samples.shape}")
    steps = np.rint(samples / bit_volts)
    if np.abs(steps).max() > 32767:
        raise ValueError(f"samples_uv reach {np.abs(samples).max()} uV, beyond int16 steps of {bit_volts} uV")
    num_samples, num_channels = samples.shape
    processor, node_id, stream = "File Reader", 100, "example_data"
    stream_folder = f"{processor.replace(' ', '_')}-{node_id}.{stream}"
    recording_dir = Path(folder) / "Record Node 100" / "experiment1" / "recording1"
    continuous_dir = recording_dir / "continuous" / stream_folder
    continuous_dir.mkdir(parents=True)
    steps.astype("<i2").tofile(continuous_dir / "continuous.dat")  # row-major: samples x channels interleaved
    sample_numbers = np.arange(num_samples, dtype=np.int64)
    np.save(continuous_dir / "sample_numbers.npy", sample_numbers)
    np.save(continuous_dir / "timestamps.npy", sample_numbers / float(sample_rate))
    channels = [{"channel_name": f"CH{c + 1}", "description": "Continuous data channel",
                 "identifier": "genericdata.continuous", "history": f"{processor} -> Record Node",
                 "bit_volts": bit_volts, "units": "uV"} for c in range(num_channels)]
    oebin = {
        "GUI version": "1.0.1",
        "continuous": [{"folder_name": stream_folder + "/", "sample_rate": float(sample_rate),
                        "source_processor_name": processor, "source_processor_id": node_id,
                        "stream_name": stream, "recorded_processor": "Record Node",
                        "recorded_processor_id": 100, "num_channels": num_channels, "channels": channels}],
        "events": [],
        "spikes": [],
    }
    (recording_dir / "structure.oebin").write_text(json.dumps(oebin, indent=2) + "\n")
    (recording_dir / "sync_messages.txt").write_text(
        "Software Time (milliseconds since midnight Jan 1st 1970 UTC): 0\r\n"
        f"Start Time for {processor} ({node_id}) - {stream} @ {round(sample_rate)} Hz: 0\r\n")
    return Path(folder)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing real-GUI test shows the tail of each of its GUIs' logs (tests/test_gui.py)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for gui in getattr(item, "gui_sessions", []):
            report.sections.append((f"GUI log, last lines ({gui.log})", gui.log_tail(80)))


def pytest_configure(config):
    """Every instance of the run, GUI or host, keeps its live ring in a folder of the run's own: a viewer
    the user has open never shows the tests' instances (tests of the default folder unset this)."""
    folder = tempfile.mkdtemp(prefix="oe-pyproc-live-tests-")
    config._live_dir = folder
    os.environ["OE_PYPROC_LIVE_DIR"] = folder


def pytest_unconfigure(config):
    """The run's last line names every skipped test and why, so a skip never passes unseen."""
    if getattr(config, "_live_dir", None):
        shutil.rmtree(config._live_dir, ignore_errors=True)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not hasattr(reporter, "stats"):
        return
    skipped = [report for report in reporter.stats.get("skipped", []) if report.skipped]
    if not skipped:
        reporter.write_line("skipped: none")
        return
    reasons = {}
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reasons.setdefault(reason.removeprefix("Skipped: "), []).append(report.nodeid.split("::")[-1])
    reporter.write_line(f"skipped: {len(skipped)}: " + "; ".join(
        f"{', '.join(tests)} ({reason})" for reason, tests in reasons.items()), yellow=True)
