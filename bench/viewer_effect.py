"""What a live viewer costs the host: process() latency at real time with nobody reading, with
`oe-pyproc view` and a page in headless Chromium reading every frame, and with that viewer killed
halfway through the run (its second half, after the kill, is shown on its own too).

The host runs publish_two_values.py on 384 synthetic channels at real time (pyproc-host --realtime,
1024-sample buffers at 30 kHz). Needs playwright and Debian's chromium (the test extra and ./dev test
install them). Prints p50/p99/max and the buffers over budget of each run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from oe_pyproc.host import current_python_home, host_command

HERE = Path(__file__).resolve().parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_host(seconds: float, env: dict) -> subprocess.Popen:
    log = Path(env["OE_PYPROC_LIVE_DIR"]) / "latency.log"
    command = host_command([HERE / "publish_two_values.py"], current_python_home(),
                           input_source=f"synthetic:channels=384,rate=30000,seconds={seconds},block=1024",
                           extra=["--realtime", "--latency-log", str(log)])
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def latency_of(host: subprocess.Popen, env: dict) -> tuple:
    """(the run's latency summary, the latency of each call in µs)."""
    stdout, stderr = host.communicate()
    if host.returncode != 0:
        sys.exit(f"pyproc-host failed ({host.returncode}): {stderr}")
    instance = json.loads(stdout)["instances"][0]
    lines = (Path(env["OE_PYPROC_LIVE_DIR"]) / "latency.log").read_text().split("\n")[1:]
    calls = np.array([float(line.split()[1]) for line in lines if line.strip()])
    return {**instance["latency_us"], "overruns": instance["overruns"], "calls": instance["calls"]}, calls


def with_viewer(seconds: float, env: dict, kill_after: float | None) -> tuple:
    from playwright.sync_api import sync_playwright

    port = free_port()
    viewer = subprocess.Popen([sys.executable, "-m", "oe_pyproc", "view", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = start_host(seconds, env)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            deadline = time.monotonic() + 30
            while True:  # the viewer needs a moment to listen
                try:
                    page.goto(f"http://127.0.0.1:{port}/")
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            if kill_after is not None:
                threading.Timer(kill_after, lambda: viewer.send_signal(signal.SIGKILL)).start()
            result = latency_of(host, env)
            browser.close()
    finally:
        if viewer.poll() is None:
            viewer.kill()
        viewer.wait()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        sys.exit("needs Debian's chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "OE_PYPROC_LIVE_DIR": folder}
        runs = {
            "nobody reading": latency_of(start_host(args.seconds, env), env),
            "viewer and page reading": with_viewer(args.seconds, env, None),
            "viewer killed halfway": with_viewer(args.seconds, env, args.seconds / 2),
        }
    print(f"process() at 384 channels, real time, {args.seconds:g} s per run (µs):")
    for name, (result, _) in runs.items():
        print(f"  {name:<32} p50 {result['p50']:>7.1f}  p99 {result['p99']:>7.1f}  max {result['max']:>8.1f}  "
              f"over budget {result['overruns']} of {result['calls']}")
    after_kill = runs["viewer killed halfway"][1]
    after_kill = after_kill[len(after_kill) // 2 + len(after_kill) // 20:]  # from a little after the kill
    print(f"  {'after the kill':<32} p50 {np.percentile(after_kill, 50):>7.1f}  "
          f"p99 {np.percentile(after_kill, 99):>7.1f}  max {after_kill.max():>8.1f}")


if __name__ == "__main__":
    main()
