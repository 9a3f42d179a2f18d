"""The audio thread's cost stays flat: the per-buffer sequence (the engine's run_block, which the GUI
plugin and pyproc-host both run) allocates nothing once warm, counted by an allocation interposer
preloaded into the real host over 50,000 buffers; and the latency statistics read the same after a
long run as a fresh sort of the calls would."""
from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import pytest

from oe_pyproc.host import host_command
from support import build_helper

HERE = Path(__file__).parent
COUNTER_SOURCE = HERE / "alloc_counter" / "alloc_counter.c"
WARMUP = 1_000
BUFFERS = 50_000 + WARMUP
BLOCK = 64


def glibc() -> bool:
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.fixture(scope="module")
def alloc_counter(tmp_path_factory) -> Path:
    if not glibc():
        pytest.skip("the allocation counter interposes glibc's malloc (Linux with glibc only)")
    return build_helper(tmp_path_factory.mktemp("alloc") / "alloc_counter.so", [COUNTER_SOURCE], "the allocation counter",
                        language="c", flags=["-shared", "-fPIC", "-ldl"])


def count_allocations(library: Path, python_home: Path, tmp_path: Path, script: Path, buffers: int = BUFFERS,
                      mode: str = "--in-process") -> dict:
    report = tmp_path / "allocations.json"
    seconds = buffers * BLOCK / 30000
    command = host_command([script], python_home,
                           input_source=f"synthetic:channels=16,rate=30000,seconds={seconds:.6f},block={BLOCK}",
                           extra=[mode])
    env = dict(os.environ, LD_PRELOAD=str(library), PYPROC_ALLOC_WARMUP=str(WARMUP),
               PYPROC_ALLOC_REPORT=str(report), OE_PYPROC_LIVE_DIR=str(tmp_path))
    process = subprocess.run(command, env=env, capture_output=True, text=True)
    assert process.returncode == 0, process.stderr
    summary = json.loads(process.stdout)
    return {"summary": summary["instances"][0], "counted": json.loads(report.read_text())}


@pytest.mark.parametrize("mode", ["--in-process", "--isolated"])
@pytest.mark.parametrize("script", [HERE.parent / "bench" / "noop_module.py", HERE / "scripts" / "every_call.py",
                                    HERE / "scripts" / "writes_derived.py"],
                         ids=["pass-through", "every-path", "derived-channels"])
def test_run_block_allocates_nothing_once_warm(alloc_counter, python_home, tmp_path, script, mode):
    """Pass-through, a module that takes events and spikes, sends both back and publishes, each buffer, and
    one that writes derived channels;
    in-process (the engine) and isolated (the client's copies in and out, and its wait)."""
    result = count_allocations(alloc_counter, python_home, tmp_path, script, mode=mode)
    counted, summary = result["counted"], result["summary"]
    assert summary["state"] == "ready", summary["error"]
    assert counted["windows"] == BUFFERS == summary["calls"]
    assert counted["allocations"] == 0 and counted["frees"] == 0, counted
    if script.name == "every_call.py":  # every path really ran
        assert summary["events_out"] == BUFFERS and summary["spikes_out"] == BUFFERS // 10
        assert summary["published"] == {"buffers": BUFFERS}


def test_the_counter_sees_what_a_module_allocates(alloc_counter, python_home, tmp_path):
    """The check can fail: a module growing a list of large arrays allocates inside the window."""
    script = tmp_path / "grows.py"
    script.write_text("import numpy as np\n\nclass PyProcessor:\n"
                      "    def __init__(self, processor, num_channels, sample_rate):\n        self.kept = []\n"
                      "    def process(self, data):\n        self.kept.append(np.ones(4096))\n")
    counted = count_allocations(alloc_counter, python_home, tmp_path, script, buffers=WARMUP + 500)["counted"]
    assert counted["allocations"] >= 500


@pytest.fixture(scope="module")
def latency_check(tmp_path_factory) -> Path:
    return build_helper(tmp_path_factory.mktemp("latency") / "latency_check", [HERE / "latency" / "latency_check.cpp"],
                        "the latency statistics check", includes=[HERE.parent / "cpp" / "common", HERE.parent / "cpp" / "include"])


def latency_summary(program: Path, values, budget: float = 0) -> dict:
    text = "\n".join(repr(float(v)) for v in values) + "\n"
    return json.loads(subprocess.run([str(program), str(budget)], input=text, capture_output=True, text=True,
                                     check=True).stdout)


BUCKET = 2 ** (1 / 16)  # one bucket of the histogram, relative


def test_latency_percentiles_match_a_sort_of_the_window(latency_check):
    """p50/p99 from the fixed histogram equal the sorted window's, within one bucket, after 50,000 calls."""
    rng = np.random.default_rng(7)
    values = np.exp(rng.normal(np.log(20.0), 0.6, 50_000))  # log-normal, like real call times
    summary = latency_summary(latency_check, values, budget=60.0)
    window = np.sort(values[(50_000 // 8192) * 8192 - 8192:])  # the two half-windows the histogram keeps
    assert summary["calls"] == 50_000
    assert summary["overruns"] == int(np.sum(values > 60.0))
    assert summary["max"] == pytest.approx(values.max())
    for name, q in (("p50", 0.50), ("p99", 0.99)):
        exact = window[round(q * (len(window) - 1))]
        assert exact / BUCKET <= summary[name] <= exact * BUCKET, (name, summary[name], exact)


def test_latency_percentiles_forget_old_calls(latency_check):
    """A slow start leaves the percentiles once 16,384 calls have passed; max and overruns keep it."""
    values = [5000.0] * 20_000 + [10.0] * 20_000
    summary = latency_summary(latency_check, values, budget=1000.0)
    assert 10.0 / BUCKET <= summary["p50"] <= 10.0 * BUCKET
    assert 10.0 / BUCKET <= summary["p99"] <= 10.0 * BUCKET
    assert summary["max"] == 5000.0 and summary["overruns"] == 20_000


def test_latency_extremes_stay_in_range(latency_check):
    """Zero, sub-0.0625 us and hour-long calls land in the end buckets; no percentile exceeds max."""
    summary = latency_summary(latency_check, [0.0, 0.001, 3.6e9])
    assert summary["p50"] <= 0.0625 * BUCKET and summary["p99"] <= summary["max"] == 3.6e9
