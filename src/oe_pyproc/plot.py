"""`oe-pyproc run --plot`: input against output for a few channels, events marked."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Tuple

import numpy as np

from oe_pyproc.host import host_command, run_host

PASSTHROUGH = "class PyProcessor:\n    def __init__(self, p, n, r):\n        pass\n\n    def process(self, data):\n        pass\n"
CHANNELS_SHOWN = 4
SECONDS_SHOWN = 0.1


class PlotError(RuntimeError):
    pass


def read_recording(folder: Path) -> Tuple[np.ndarray, float, np.ndarray]:
    """Microvolts (samples x channels), sample rate, and the TTL events' sample indexes from the
    first sample, via open-ephys-python-tools."""
    try:
        from open_ephys.analysis import Session
    except ImportError:
        raise PlotError("--plot reads recordings with open-ephys-python-tools: "
                        "pip install open-ephys-python-tools") from None
    session = Session(str(folder))
    recording = session.recordnodes[0].recordings[0] if session.recordnodes else session.recordings[0]
    continuous = recording.continuous[0]
    count = min(len(continuous.sample_numbers), int(SECONDS_SHOWN * _rate(continuous)) + 1)
    samples = continuous.get_samples(0, count)
    events = recording.events
    if events is None or len(events) == 0:
        return samples, _rate(continuous), np.array([], dtype=np.int64)
    offsets = np.asarray(events.sample_number) - int(continuous.sample_numbers[0])
    return samples, _rate(continuous), offsets[(offsets >= 0) & (offsets < count)]


def _rate(continuous) -> float:
    metadata = continuous.metadata
    return float(metadata["sample_rate"] if isinstance(metadata, dict) else metadata.sample_rate)


def input_recording(input_source: str, python_home: Path, scratch: Path) -> Path:
    """The input as a recording: a recording folder as is, a synthetic source recorded once."""
    if not input_source.startswith("synthetic"):
        return Path(input_source)
    module = scratch / "passthrough.py"
    module.write_text(PASSTHROUGH)
    result = run_host(host_command([module], python_home, input_source=input_source, output=str(scratch / "input")),
                      echo=lambda line: None)
    if result.returncode != 0:
        raise PlotError(f"could not record the input for the plot: {result.reason}")
    return scratch / "input"


def plot_run(input_source: str, output: Path, python_home: Path, path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError("--plot needs matplotlib: pip install matplotlib") from None
    with tempfile.TemporaryDirectory() as scratch:
        before, rate, _ = read_recording(input_recording(input_source, python_home, Path(scratch)))
    after, _, events = read_recording(output)
    shown = min(CHANNELS_SHOWN, before.shape[1])
    time_ms = np.arange(len(after)) / rate * 1000
    figure, axes = plt.subplots(shown, 1, figsize=(9, 1.8 * shown + 0.6), sharex=True, squeeze=False)
    for channel, axis in enumerate(axes[:, 0]):
        axis.plot(time_ms, before[: len(after), channel], color="#bbbbbb", linewidth=0.8, label="input")
        axis.plot(time_ms, after[:, channel], color="#4477aa", linewidth=0.8, label="output")
        axis.set_ylabel(f"ch {channel + 1} µV")
        for sample in events:
            axis.axvline(sample / rate * 1000, color="#cc3311", linewidth=0.6, alpha=0.6)
    axes[0, 0].legend(loc="upper right", fontsize="small")
    axes[0, 0].set_title(title)
    axes[-1, 0].set_xlabel("ms (red lines: TTL events)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
