"""`oe-pyproc run --plot`: input against output for a few channels, events marked, then the modules' derived
channels (recorded after the stream's own), and under them what the modules published (pyproc-host --output
writes it to <output>/published/<node>_<script>/)."""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np

from oe_pyproc.host import host_command, run_host

PASSTHROUGH = "class PyProcessor:\n    def __init__(self, p, n, r):\n        pass\n\n    def process(self, data):\n        pass\n"
CHANNELS_SHOWN = 4
SECONDS_SHOWN = 0.1


class PlotError(RuntimeError):
    pass


@dataclass
class Recording:
    samples: np.ndarray       # microvolts, samples x channels, the first SECONDS_SHOWN
    rate: float
    events: np.ndarray        # TTL events' sample indexes from the first sample, within `samples`
    first_sample: int         # the sample number of samples[0]
    total_samples: int        # the whole recording's length
    channel_names: List[str]


def read_recording(folder: Path) -> Recording:
    """The first SECONDS_SHOWN of a recording and its TTL events, via open-ephys-python-tools."""
    try:
        from open_ephys.analysis import Session
    except ImportError:
        raise PlotError("--plot reads recordings with open-ephys-python-tools: "
                        "pip install open-ephys-python-tools") from None
    session = Session(str(folder))
    recording = session.recordnodes[0].recordings[0] if session.recordnodes else session.recordings[0]
    continuous = recording.continuous[0]
    total = len(continuous.sample_numbers)
    first = int(continuous.sample_numbers[0]) if total else 0
    count = min(total, int(SECONDS_SHOWN * _rate(continuous)) + 1)
    samples = continuous.get_samples(0, count)
    metadata = continuous.metadata
    names = list(metadata["channel_names"] if isinstance(metadata, dict) else metadata.channel_names)
    events = recording.events
    if events is None or len(events) == 0:
        return Recording(samples, _rate(continuous), np.array([], dtype=np.int64), first, total, names)
    offsets = np.asarray(events.sample_number) - first
    return Recording(samples, _rate(continuous), offsets[(offsets >= 0) & (offsets < count)], first, total, names)


@dataclass
class Published:
    """One published name of one instance, as pyproc-host --output wrote it."""

    name: str
    instance: str                # the folder: "<node id>_<script stem>"
    kind: str                    # scalar, curve, image or picture
    values: np.ndarray           # stacked: (n,), (n, len), (n, rows, cols) or (n, H, W, 4)
    sample_numbers: np.ndarray   # (n,)
    x: Optional[np.ndarray] = None

    @property
    def node_id(self) -> str:
        return self.instance.split("_", 1)[0]


def _kind(values: np.ndarray) -> Optional[str]:
    if values.ndim == 4 and values.dtype == np.uint8:
        return "picture"
    return {1: "scalar", 2: "curve", 3: "image"}.get(values.ndim)


def read_published(output: Path) -> List[Published]:
    """Every published name under OUTPUT/published, in the order each instance first published them."""
    found: List[Published] = []
    for folder in sorted(path for path in (Path(output) / "published").glob("*") if path.is_dir()):
        try:
            names = json.loads((folder / "names.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for stem, name in names.items():
            try:
                values = np.load(folder / f"{stem}.npy")
                sample_numbers = np.load(folder / f"{stem}.sample_numbers.npy")
                x_file = folder / f"{stem}.x.npy"
                x = np.load(x_file) if x_file.is_file() else None
            except (OSError, ValueError):
                continue
            kind = _kind(values)
            if kind and len(values):
                found.append(Published(name, folder.name, kind, values, sample_numbers, x))
    return found


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


def run_figure(input_source: str, output: Path, python_home: Path, title: str):
    """The figure of `run --plot`: input against output for the first channels over the first SECONDS_SHOWN
    (red lines: TTL events), the derived channels over the same span, then a row per published name: scalars over time (seconds from the
    recording's first sample, as the traces; the traces' span shaded), the last curve, the last image or
    picture."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError("--plot needs matplotlib: pip install matplotlib") from None
    with tempfile.TemporaryDirectory() as scratch:
        before = read_recording(input_recording(input_source, python_home, Path(scratch))).samples
    result = read_recording(output)
    after, rate, events = result.samples, result.rate, result.events
    published = read_published(output)
    shown = min(CHANNELS_SHOWN, before.shape[1])
    derived = list(range(before.shape[1], after.shape[1]))  # the channels the modules added
    heights = [1.8] * (shown + len(derived)) + [_row_height(item) for item in published]
    figure = plt.figure(figsize=(9, sum(heights) + 0.6 + 0.5 * bool(published)))
    grid = figure.add_gridspec(len(heights), 1, height_ratios=heights)
    time_ms = np.arange(len(after)) / rate * 1000
    traces = []
    for row, channel in enumerate(list(range(shown)) + derived):
        axis = figure.add_subplot(grid[row, 0], sharex=traces[0] if traces else None)
        traces.append(axis)
        if channel < shown:
            axis.plot(time_ms, before[: len(after), channel], color="#bbbbbb", linewidth=0.8, label="input")
            axis.plot(time_ms, after[:, channel], color="#4477aa", linewidth=0.8, label="output")
            axis.set_ylabel(f"ch {channel + 1} µV")
        else:
            axis.plot(time_ms, after[:, channel], color="#228833", linewidth=1.0)
            axis.set_ylabel(result.channel_names[channel], fontsize="small")
        for sample in events:
            axis.axvline(sample / rate * 1000, color="#cc3311", linewidth=0.6, alpha=0.6)
        if row < shown + len(derived) - 1:
            axis.tick_params(labelbottom=False)
    traces[0].legend(loc="upper right", fontsize="small")
    traces[0].set_title(title)
    traces[-1].set_xlabel("ms (red lines: TTL events" + ("; green: derived channels)" if derived else ")"))
    several = len({item.instance for item in published}) > 1
    duration = result.total_samples / rate
    for row, item in enumerate(published, start=shown + len(derived)):
        _draw_published(figure.add_subplot(grid[row, 0]), item, rate, result.first_sample, duration,
                        len(after) / rate, several)
    figure.tight_layout()
    return figure


def _row_height(item: Published) -> float:
    return 2.6 if item.kind in ("image", "picture") else 1.8


def _draw_published(axis, item: Published, rate: float, first_sample: int, duration: float, traces_span: float,
                    several: bool) -> None:
    label = f"{item.name} (node {item.node_id})" if several else item.name
    count = len(item.values)
    last = int(item.sample_numbers[-1]) if len(item.sample_numbers) else 0
    if item.kind == "scalar":
        seconds = (item.sample_numbers - first_sample) / rate
        axis.plot(seconds, item.values, color="#4477aa", linewidth=1.0, marker="." if count < 50 else None)
        axis.axvspan(0, traces_span, color="#dddddd", alpha=0.5, linewidth=0)
        axis.set_xlim(0, max(duration, float(seconds.max()) if count else 0.0) or 1.0)
        axis.set_xlabel("seconds (shaded: the traces' span)")
        axis.set_title(f"{label}: {count} values", fontsize="medium")
        return
    if item.kind == "curve":
        values = item.values[-1]
        x = item.x if item.x is not None else np.arange(len(values))
        axis.plot(x, values, color="#4477aa", linewidth=1.0)
    else:
        picture = item.kind == "picture"
        image = axis.imshow(item.values[-1], origin="upper" if picture else "lower", aspect="auto",
                            interpolation="nearest", cmap=None if picture else "viridis")
        if not picture:
            axis.figure.colorbar(image, ax=axis, pad=0.01)
    axis.set_title(f"{label}: the last of {count} (sample {last}, {(last - first_sample) / rate:.3f} s)",
                   fontsize="medium")


def plot_run(input_source: str, output: Path, python_home: Path, path: Path, title: str) -> None:
    figure = run_figure(input_source, output, python_home, title)
    import matplotlib.pyplot as plt

    figure.savefig(path, dpi=110)
    plt.close(figure)
