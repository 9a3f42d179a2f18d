"""What derived channels cost per buffer: process() p50/p99 at 384 channels x 1024 samples with 0, 1 and
16 derived channels, declared and left alone (the engine's own cost: zeroing them and binding their
arrays) and written from a channel each buffer, in-process and isolated (where the worker's derived
memory is copied out as well). Runs bench/derived_module.py through pyproc-host."""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

from oe_pyproc.host import current_python_home, host_command, run_host

HERE = Path(__file__).resolve().parent
CHANNELS, BLOCK, RATE = 384, 1024, 30000
COUNTS = [0, 1, 16]


def measure(count: int, write: bool, mode: str, blocks: int) -> tuple:
    os.environ["OE_PYPROC_BENCH_DERIVED"] = str(count)
    os.environ["OE_PYPROC_BENCH_DERIVED_WRITE"] = "1" if write else "0"
    source = f"synthetic:channels={CHANNELS},rate={RATE},seconds={blocks * BLOCK / RATE:.3f},block={BLOCK}"
    result = run_host(host_command([HERE / "derived_module.py"], current_python_home(), input_source=source,
                                   extra=[f"--{mode}"]))
    if result.returncode != 0 or result.summary is None:
        sys.exit(f"pyproc-host failed: {result.reason}")
    latency = result.summary["instances"][0]["latency_us"]
    return latency["p50"], latency["p99"]


def median(values: list) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration, interleaved; medians shown")
    parser.add_argument("--json", type=Path, help="write the numbers here too")
    args = parser.parse_args()
    configurations = [(mode, count, write) for mode in ("in-process", "isolated") for count in COUNTS
                      for write in (False, True)]
    runs = {configuration: [] for configuration in configurations}
    for _ in range(args.repeat):  # interleaved, so that the machine's slow minutes fall on every configuration
        for configuration in configurations:
            runs[configuration].append(measure(configuration[1], configuration[2], configuration[0], args.blocks))
    print(f"derived channels at {CHANNELS} channels x {BLOCK} samples, {args.blocks} buffers per run, median of "
          f"{args.repeat} runs, Python {platform.python_version()}, {platform.machine()}: process() p50 / p99 in µs")
    print(f"{'mode':<11} {'derived':>7} {'declared, untouched':>22} {'written each buffer':>22}")
    rows = []
    for mode in ("in-process", "isolated"):
        for count in COUNTS:
            cells = [(median([r[0] for r in runs[(mode, count, write)]]), median([r[1] for r in runs[(mode, count, write)]]))
                     for write in (False, True)]
            rows.append({"mode": mode, "derived": count, "untouched": cells[0], "written": cells[1]})
            print(f"{mode:<11} {count:>7} {cells[0][0]:>10.1f} / {cells[0][1]:>9.1f} {cells[1][0]:>10.1f} / "
                  f"{cells[1][1]:>9.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
