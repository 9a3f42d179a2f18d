"""Is the per-buffer cost flat over a long session? pyproc-host runs a module over 50,000 buffers
through the engine's run_block (the sequence the GUI plugin runs on its audio thread) and logs each
call's duration; prints p50/p99 of the first and the last 5,000 buffers, and plots every call (PNG).

    python bench/long_run.py [--buffers 50000] [--channels 384] [--block 1024] [--png long_run.png]
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

from oe_pyproc.host import current_python_home, host_command, run_host

HERE = Path(__file__).resolve().parent
RATE = 30000
EDGE = 5000


def durations(buffers: int, channels: int, block: int, module: Path) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "latency.log"
        command = host_command([module], current_python_home(),
                               input_source=f"synthetic:channels={channels},rate={RATE},"
                                            f"seconds={buffers * block / RATE:.6f},block={block}",
                               extra=["--latency-log", str(log)])
        result = run_host(command)
        if result.returncode != 0:
            sys.exit(f"pyproc-host failed: {result.reason}")
        return np.loadtxt(log, skiprows=1, usecols=1, ndmin=1)


def plot(micros: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3.5))
    axis.plot(micros, ",", alpha=0.5)
    for start, label in ((0, "first"), (len(micros) - EDGE, "last")):
        p99 = np.percentile(micros[start:start + EDGE], 99)
        axis.hlines(p99, start, start + EDGE, colors="red", label=f"p99 of the {label} {EDGE}: {p99:.1f} us")
    axis.set_yscale("log")
    axis.set_xlabel("buffer")
    axis.set_ylabel("run_block (us)")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buffers", type=int, default=50_000)
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--block", type=int, default=1024)
    parser.add_argument("--module", type=Path, default=HERE / "noop_module.py")
    parser.add_argument("--png", type=Path, default=None)
    args = parser.parse_args()
    if args.buffers < 2 * EDGE:
        sys.exit(f"--buffers must be at least {2 * EDGE}")
    micros = durations(args.buffers, args.channels, args.block, args.module)
    title = (f"{args.module.name}, {args.channels} channels x {args.block} samples, {len(micros)} buffers "
             f"({platform.machine()}, {platform.system()}, Python {platform.python_version()})")
    print(title)
    for label, part in (("first", micros[:EDGE]), ("last", micros[-EDGE:])):
        print(f"  {label} {EDGE}: p50 {np.percentile(part, 50):.2f} us, p99 {np.percentile(part, 99):.2f} us, "
              f"max {part.max():.1f} us")
    if args.png:
        try:
            plot(micros, args.png, title)
            print(f"plot: {args.png}")
        except ImportError:
            print("matplotlib is not installed: no plot")


if __name__ == "__main__":
    main()
