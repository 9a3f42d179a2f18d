"""`oe-pyproc bench`: a module's latency per buffer against the buffer's real-time budget."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from oe_pyproc.host import HostRun, host_command, run_host


class BenchError(RuntimeError):
    pass


@dataclass
class BenchRun:
    channels: int
    latencies_us: np.ndarray
    budget_us: float
    summary: dict

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_us, q))

    @property
    def fits(self) -> bool:
        return self.percentile(99) <= self.budget_us


def measure(script: Path, python_home: Path, channels: int, rate: float, block: int, blocks: int,
            extra: Sequence[str] = ()) -> BenchRun:
    seconds = blocks * block / rate
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "latency.txt"
        source = f"synthetic:channels={channels},rate={rate:g},seconds={seconds:.6f},block={block}"
        result: HostRun = run_host(host_command([script], python_home, input_source=source,
                                                extra=["--latency-log", str(log), *extra]), echo=lambda line: None)
        if result.summary is None:
            raise BenchError(result.reason)
        instance = result.summary["instances"][0]
        if instance["state"] != "ready":
            raise BenchError(f"the module errored at {channels} channels:\n{instance['error']}")
        latencies = np.loadtxt(log, skiprows=1, ndmin=2)[:, 1]
    return BenchRun(channels, latencies, 1e6 * block / rate, result.summary)


def largest_fitting(script: Path, python_home: Path, rate: float, block: int, blocks: int,
                    start: int, limit: int = 4096, extra: Sequence[str] = ()) -> Optional[BenchRun]:
    """Doubles the channel count until p99 exceeds the budget, then bisects between the last two.
    The limit is the synthetic source's largest channel count."""
    good: Optional[BenchRun] = None
    channels = start
    while channels <= limit:
        run = measure(script, python_home, channels, rate, block, blocks, extra)
        if not run.fits:
            break
        good, channels = run, channels * 2
    if good is None or channels > limit:
        return good
    low, high = good.channels, channels
    while high - low > max(low // 8, 1):
        middle = (low + high) // 2
        run = measure(script, python_home, middle, rate, block, blocks, extra)
        if run.fits:
            good, low = run, middle
        else:
            high = middle
    return good


def plot_histogram(run: BenchRun, script: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    # Log scale: the budget is often a hundred times the typical call.
    upper = max(run.budget_us, float(run.latencies_us.max())) * 1.2
    axis.hist(run.latencies_us, bins=np.geomspace(max(float(run.latencies_us.min()) * 0.8, 0.1), upper, 80),
              color="#4477aa")
    axis.set_xscale("log")
    for q, style in ((50, "-"), (99, "--")):
        axis.axvline(run.percentile(q), color="black", linestyle=style, linewidth=1, label=f"p{q} {run.percentile(q):.1f} µs")
    axis.axvline(run.budget_us, color="#cc3311", linewidth=1.5, label=f"budget {run.budget_us:.0f} µs")
    axis.set_xlabel("µs per buffer")
    axis.set_ylabel("buffers")
    axis.set_title(f"{script.name}: {run.channels} channels, {len(run.latencies_us)} buffers")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def budget_lines(runs: List[BenchRun]) -> List[str]:
    return [f"{r.channels:>6} ch: p50 {r.percentile(50):8.1f} µs  p99 {r.percentile(99):8.1f} µs  "
            f"max {r.latencies_us.max():8.1f} µs  of {r.budget_us:.0f} µs" for r in runs]
