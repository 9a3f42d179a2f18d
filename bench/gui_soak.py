"""A long acquisition in the real Open Ephys GUI: what does the plugin add, and does it stay flat?

For each channel count (384 and 1536 by default) and each mode (--modes: isolated, in-process) builds
File Reader -> Record Control -> Python Processor (a pass-through module) -> Record Node in a headless
GUI clocked by a JACK dummy server, acquires for --minutes, and every --every seconds reads the GUI's
own /api/latency.
A node's added latency is its latency minus its upstream neighbour's: Record Control, the GUI's own
do-nothing C++ node, is the floor our Python Processor is measured against. Prints a table per
channel count and writes a PNG (matplotlib) and the readings as JSON.

    python bench/gui_soak.py --minutes 10 --png docs/images/gui_soak.png
    python bench/gui_soak.py --channels 64 384 1536 --modes isolated in-process --minutes 1 --every 10
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the GUI session helpers the real-GUI tests use

from conftest import write_recording  # noqa: E402
from gui_session import GuiSession, JackServer, build_plugin, find_gui  # noqa: E402
from oe_pyproc.host import current_python_home  # noqa: E402

RATE = 30000
NOOP = REPO / "bench" / "noop_module.py"


def stream_latency(reading: dict, node_id: int) -> float:
    for processor in reading["processors"]:
        if processor["id"] == node_id:
            return float(processor["streams"][0]["latency"])
    raise KeyError(f"processor {node_id} is not in /api/latency: {reading}")


def soak(gui: GuiSession, folder: Path, channels: int, minutes: float, every: float, mode: str) -> dict:
    signal = 100.0 * np.sin(2 * np.pi * 10 * np.arange(RATE * 2) / RATE)[:, None] * np.ones((1, channels))
    recording = next(write_recording(folder / f"in{channels}-{mode}", signal, RATE, 0.195).rglob("structure.oebin"))
    reader = gui.add("File Reader")
    gui.set(reader, "selected_file", str(recording))
    control = gui.add("Record Control", reader)
    python = gui.add("Python Processor", control)
    gui.set(python, "script_path", str(NOOP))
    gui.set(python, "execution", mode)
    gui.add("Record Node", python)
    status = gui.wait_while_loading(python)
    if status["state"] != "ready":
        raise SystemExit(f"the Python Processor is not ready: {status}")
    rows = []
    gui.put("/api/status", {"mode": "ACQUIRE"})
    gui.wait_for_calls(python, 10, timeout=60)  # acquiring
    started = time.monotonic()
    try:
        for k in range(1, int(minutes * 60 / every) + 1):
            time.sleep(max(0.0, started + k * every - time.monotonic()))
            reading = gui.get("/api/latency")
            status = gui.python_status(python)
            rows.append({
                "seconds": round(time.monotonic() - started, 1),
                "python_added_ms": stream_latency(reading, python) - stream_latency(reading, control),
                "record_control_added_ms": stream_latency(reading, control) - stream_latency(reading, reader),
                "engine_p50_us": status["p50_us"], "engine_p99_us": status["p99_us"], "calls": status["calls"],
                "late": status.get("late", 0), "worker_priority": status.get("worker_priority", 0),
            })
            print(f"  {channels} ch {mode}, {rows[-1]['seconds']:6.0f} s: Python Processor adds "
                  f"{rows[-1]['python_added_ms']:.4f} ms, Record Control {rows[-1]['record_control_added_ms']:.4f} ms, "
                  f"p50 {status['p50_us']:.1f} us p99 {status['p99_us']:.1f} us, {status['calls']} calls, "
                  f"{status.get('late', 0)} late, worker priority {status.get('worker_priority', 0)}",
                  flush=True)
    finally:
        gui.put("/api/status", {"mode": "IDLE"})
    return {"channels": channels, "mode": mode, "rows": rows}


def plot(results: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (added, engine) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for result in results:
        minutes = [row["seconds"] / 60 for row in result["rows"]]
        label = f"{result['channels']} ch, {result.get('mode', 'in-process')}"
        line, = added.plot(minutes, [row["python_added_ms"] for row in result["rows"]], marker="o",
                           label=f"Python Processor, {label}")
        added.plot(minutes, [row["record_control_added_ms"] for row in result["rows"]], linestyle="--",
                   color=line.get_color(), alpha=0.6, label=f"Record Control (GUI's own), {label}")
        engine.plot(minutes, [row["engine_p50_us"] for row in result["rows"]], marker="o", color=line.get_color(),
                    label=f"p50, {label}")
        engine.plot(minutes, [row["engine_p99_us"] for row in result["rows"]], marker="^", linestyle=":",
                    color=line.get_color(), label=f"p99, {label}")
    added.set_ylabel("added latency (ms)\nGUI's /api/latency")
    added.set_yscale("log")
    added.legend(fontsize=8)
    added.set_title(f"A pass-through module in Open Ephys GUI 1.0.1 ({platform.machine()}, {platform.system()})")
    engine.set_ylabel("run_block as the plugin\nwaits for it (us)")
    engine.set_ylim(bottom=0)
    engine.set_xlabel("minutes of acquisition")
    engine.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[384, 1536])
    parser.add_argument("--modes", nargs="+", default=["isolated"], choices=["isolated", "in-process"])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between readings")
    parser.add_argument("--png", type=Path, default=Path("gui_soak.png"))
    parser.add_argument("--json", type=Path, default=None, help="the readings, as JSON")
    parser.add_argument("--realtime-jack", action="store_true",
                        help="JACK in real-time mode: the GUI's audio thread SCHED_FIFO, as on a Linux audio setup")
    parser.add_argument("--replot", type=Path, default=None, help="draw the PNG from a --json file, without a run")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads(args.replot.read_text())["results"], args.png)
        print(f"plot: {args.png}")
        return
    executable, reason = find_gui()
    if executable is None:
        raise SystemExit(f"no GUI: {reason}")
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        jack = JackServer(scratch / "jackd.log", realtime=args.realtime_jack)
        jack.start()
        plugin = build_plugin()
        try:
            for channels in args.channels:  # a GUI of its own for each count and mode
                for mode in args.modes:
                    gui = GuiSession(executable, scratch / f"gui{channels}{mode}", jack)
                    try:
                        gui.install(plugin, current_python_home())
                        gui.start()
                        results.append(soak(gui, scratch, channels, args.minutes, args.every, mode))
                    finally:
                        gui.stop()
        finally:
            jack.stop()
    for result in results:
        rows = result["rows"]
        added = [row["python_added_ms"] for row in rows]
        first_minute = next(row for row in rows if row["seconds"] >= 60)["python_added_ms"] if len(rows) > 1 else added[0]
        print(f"{result['channels']} channels, {result['mode']}: added ms at 1 min {first_minute:.4f}, at the end "
              f"{added[-1]:.4f}, median {np.median(added):.4f}, max {max(added):.4f}; Record Control max "
              f"{max(r['record_control_added_ms'] for r in rows):.4f}; late {rows[-1].get('late', 0)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": platform.platform(), "results": results}, indent=1))
    try:
        plot(results, args.png)
        print(f"plot: {args.png}")
    except ImportError:
        print("matplotlib is not installed: no plot")


if __name__ == "__main__":
    main()
