"""The engine's own cost per process() call, next to copying the buffer in and out.

For 16, 64, 384 and 1536 channels at 1024 samples, runs a module that does
nothing through pyproc-host (the real loader and engine) and prints p50/p99 of
one call: with the chain's buffer viewed in place (the engine's normal path),
with channels scattered in memory (the engine must copy), and the host's own
memcpy of the block in and out, timed in the same run; then in place again
with six declared module parameters (noop_with_parameters.py), and with a module
that publishes a scalar and a 1,024-float array per buffer (publish_two_values.py);
then the cost of one publish, timed inside process() (publishing_module.py). Writes a PNG if matplotlib
is installed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import sys
from pathlib import Path

from oe_pyproc.host import current_python_home, host_command, run_host

HERE = Path(__file__).resolve().parent
CHANNELS = [16, 64, 384, 1536]
BLOCK = 1024
RATE = 30000


def measure(channels: int, blocks: int, scattered: bool, module: str = "noop_module.py") -> dict:
    seconds = blocks * BLOCK / RATE
    extra = ["--measure-copy"] + (["--scattered-channels"] if scattered else [])
    command = host_command([HERE / module], current_python_home(),
                           input_source=f"synthetic:channels={channels},rate={RATE},seconds={seconds:.3f},block={BLOCK}",
                           extra=extra)
    result = run_host(command)
    if result.returncode != 0 or result.summary is None:
        sys.exit(f"pyproc-host failed: {result.reason}")
    return result.summary


def measure_publishing(channels: int, blocks: int) -> tuple:
    """(process() p50/p99 of the publishing module, the publish costs it measured itself)."""
    with tempfile.TemporaryDirectory() as folder:
        os.environ["OE_PYPROC_BENCH_PUBLISH_OUT"] = str(Path(folder) / "publish.json")
        os.environ["OE_PYPROC_LIVE_DIR"] = folder  # this run's rings, removed with the folder
        try:
            summary = measure(channels, blocks, scattered=False, module="publish_two_values.py")
            measure(channels, blocks, scattered=False, module="publishing_module.py")
            costs = json.loads((Path(folder) / "publish.json").read_text())
        finally:
            del os.environ["OE_PYPROC_BENCH_PUBLISH_OUT"], os.environ["OE_PYPROC_LIVE_DIR"]
    latency = summary["instances"][0]["latency_us"]
    return (latency["p50"], latency["p99"]), costs


def plot(rows: list, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot; `pip install matplotlib`)")
        return
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for key, label, style in [("view", "process() in place", "o-"), ("copy_path", "process(), engine copies", "s-"),
                              ("memcpy", "memcpy in + out", "^--"),
                              ("publishing", "process() publishing 2 values", "d-")]:
        axis.plot([r["channels"] for r in rows], [r[key][1] for r in rows], style, label=f"{label} (p99)")
    axis.axhline(20, color="grey", linewidth=0.8, linestyle=":", label="20 µs target")
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.set_xticks(CHANNELS, [str(c) for c in CHANNELS])
    axis.set_xlabel(f"channels ({BLOCK} samples per buffer)")
    axis.set_ylabel("µs per buffer")
    axis.set_title(f"Engine overhead, Python {platform.python_version()}, {platform.machine()}")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"plot written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=400, help="buffers per run (fewer for 1536 channels)")
    parser.add_argument("--plot", type=Path, default=HERE / "results" / "engine_overhead.png")
    args = parser.parse_args()

    rows = []
    print(f"{'channels':>8} | {'in place p50':>12} {'p99':>8} | {'engine copies p50':>17} {'p99':>8} | "
          f"{'memcpy in+out p50':>17} {'p99':>8} | {'6 parameters p50':>16} {'p99':>8} | "
          f"{'publishing p50':>14} {'p99':>8}   (µs)")
    costs = []
    for channels in CHANNELS:
        blocks = args.blocks if channels <= 384 else max(args.blocks // 4, 50)
        view = measure(channels, blocks, scattered=False)
        copy = measure(channels, blocks, scattered=True)
        with_parameters = measure(channels, blocks, scattered=False, module="noop_with_parameters.py")
        publishing, publish_cost = measure_publishing(channels, blocks)
        costs.append((channels, publish_cost))
        row = {
            "channels": channels,
            "view": tuple(view["instances"][0]["latency_us"][k] for k in ("p50", "p99")),
            "copy_path": tuple(copy["instances"][0]["latency_us"][k] for k in ("p50", "p99")),
            "memcpy": tuple(view["copy_in_out_us"][k] for k in ("p50", "p99")),
            "parameters": tuple(with_parameters["instances"][0]["latency_us"][k] for k in ("p50", "p99")),
            "publishing": publishing,
        }
        rows.append(row)
        print(f"{channels:>8} | {row['view'][0]:>12.1f} {row['view'][1]:>8.1f} | {row['copy_path'][0]:>17.1f} "
              f"{row['copy_path'][1]:>8.1f} | {row['memcpy'][0]:>17.1f} {row['memcpy'][1]:>8.1f} | "
              f"{row['parameters'][0]:>16.1f} {row['parameters'][1]:>8.1f} | "
              f"{row['publishing'][0]:>14.1f} {row['publishing'][1]:>8.1f}", flush=True)
    print("\none publish from process(), timed inside the module (µs; the first of a buffer meets cold caches):")
    for channels, cost in costs:
        print(f"  {channels:>5} channels: " + " | ".join(
            f"{name} p50 {cost[name]['p50_us']:.2f} p99 {cost[name]['p99_us']:.2f}"
            for name in ("scalar", "array_1024", "scalar, first in the buffer", "numpy row copy of 1,024 floats")))
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, args.plot)


if __name__ == "__main__":
    main()
