"""The host's parsers under libFuzzer (tests/fuzz/): the JSON parser, the .npy reader and the live ring
reader, each built with AddressSanitizer and UBSan and run for a bounded time on inputs the fuzzer
makes from seeds. A crash, a sanitizer report, a hang or a runaway allocation fails the test, with
the input that caused it kept in the test's folder."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FUZZ = Path(__file__).parent / "fuzz"
SECONDS = 15
SOURCES = {  # target -> the host sources it links
    "fuzz_json": ["../common/json.cpp"],
    "fuzz_npy": ["npy.cpp"],
    "fuzz_ring": ["published_writer.cpp", "npy.cpp", "../common/json.cpp", "safe_name.cpp", "../common/live_ring.cpp"],
}


def seeds(target: str, folder: Path) -> None:
    folder.mkdir()
    if target == "fuzz_json":
        oebin = {"continuous": [{"folder_name": "a/", "sample_rate": 30000.0, "num_channels": 2,
                                 "channels": [{"channel_name": "CH1", "bit_volts": 0.195}] * 2}],
                 "events": [], "spikes": [], "text": "caf\u00e9 \\n \"q\"", "deep": [[[1e308, -0.0, True, None]]]}
        (folder / "oebin.json").write_text(json.dumps(oebin))
    elif target == "fuzz_npy":
        for dtype in ("<i8", "<i2", "<f4", "|u1"):
            np.save(folder / f"{dtype[1:]}.npy", np.arange(12, dtype=dtype).reshape(3, 4))
    else:
        (folder / "whole").write_bytes(b"\x00\x00\x00\x00")  # offset 0, one byte: the magic torn
        (folder / "index").write_bytes((4096 + 64).to_bytes(4, "little") + b"\xff" * 64)


@pytest.fixture(scope="module")
def clang() -> str:
    compiler = shutil.which("clang++") or shutil.which("clang++-14")
    if compiler is None:
        pytest.skip("no clang++ for libFuzzer (Debian: clang, libclang-rt-14-dev; ./dev test installs them)")
    return compiler


@pytest.mark.parametrize("target", sorted(SOURCES))
def test_a_parser_survives_the_fuzzer(clang, tmp_path, target, capsys):
    host = REPO / "cpp" / "host"
    program = tmp_path / target
    built = subprocess.run([clang, "-std=c++17", "-g", "-O1", "-fsanitize=fuzzer,address,undefined",
                            "-fno-sanitize-recover=all", "-I", str(host), "-I", str(REPO / "cpp" / "common"), "-I", str(REPO / "cpp" / "include"),
                            str(FUZZ / f"{target}.cpp"), *[str(host / source) for source in SOURCES[target]],
                            "-o", str(program)], capture_output=True, text=True)
    if built.returncode != 0 and "fuzzer" in built.stderr and "cannot find" in built.stderr:
        pytest.skip("clang has no libFuzzer runtime (Debian: libclang-rt-14-dev)")
    assert built.returncode == 0, built.stderr[-3000:]
    corpus = tmp_path / "corpus"
    seeds(target, corpus)
    run = subprocess.run([str(program), str(corpus), f"-max_total_time={SECONDS}", "-timeout=10", "-rss_limit_mb=1024",
                          "-malloc_limit_mb=512", f"-artifact_prefix={tmp_path}/"],
                         capture_output=True, text=True, env={"ASAN_OPTIONS": "detect_leaks=0", "PATH": "/usr/bin:/bin"})
    done = re.search(r"Done (\d+) runs in (\d+) second", run.stderr)
    with capsys.disabled():
        print(f"\n{target}: {done.group(1) if done else '?'} executions in {SECONDS} s, exit {run.returncode}")
    assert run.returncode == 0, run.stderr[-4000:]
    assert done and int(done.group(1)) > 0
