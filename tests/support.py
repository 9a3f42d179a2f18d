"""Helpers the tests share: polling for a condition, a free local port, small programs built for a test, and
the isolated mode's worker processes of a parent."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Sequence, Union

import pytest


def wait_until(condition: Callable, what: Union[str, Callable[[], str]], timeout: float = 60.0,
               interval: float = 0.02):
    """CONDITION()'s first truthy value, polled until TIMEOUT seconds; else fails, saying WHAT (a text, or
    a function giving one then)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what() if callable(what) else what}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build_helper(output: Path, sources: Sequence[Path], what: str, includes: Sequence[Path] = (), language: str = "c++",
                 flags: Sequence[str] = ()) -> Path:
    """OUTPUT compiled from SOURCES with the machine's compiler (`c++` or `cc`); the test skips, naming
    WHAT it needed the helper for, where there is none."""
    names = ("c++", "g++") if language == "c++" else ("cc", "gcc")
    compiler = next((found for found in map(shutil.which, names) if found), None)
    if compiler is None:
        pytest.skip(f"no {language} compiler ({names[0]}) to build {what}")
    standard = ["-std=c++17"] if language == "c++" else []
    subprocess.run([compiler, *standard, "-O2", *flags, *[f"-I{folder}" for folder in includes], "-o", str(output),
                    *map(str, sources)], check=True)
    return output


def workers_of(parent_pid: int) -> list:
    """The pids of the pyproc-worker processes started by PARENT_PID (named by their --parent argument),
    zombies included."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if arguments and arguments[0].endswith(b"pyproc-worker") and b"--parent" in arguments and \
                arguments[arguments.index(b"--parent") + 1:][:1] == [str(parent_pid).encode()]:
            found.append(int(entry.name))
    return found


SYNTHETIC_TTL_TABLE = Path(__file__).resolve().parents[1] / "cpp" / "host" / "synthetic_ttl.def"


def synthetic_ttl_edges(end_sample: int, rate: float) -> list:
    """The synthetic source's TTL edges before END_SAMPLE, sorted: (sample number, line, state), read from
    the table the host is compiled from (the host rounds each edge's time to the nearest sample)."""
    import math
    import re

    edges = []
    for offset, period, line, state in re.findall(r"^SYNTHETIC_TTL\(([\d.]+), ([\d.]+), (\d+), (true|false)\)",
                                                  SYNTHETIC_TTL_TABLE.read_text(), re.MULTILINE):
        for k in range(int(end_sample / (float(period) * rate)) + 2):
            sample = math.floor((float(offset) + k * float(period)) * rate + 0.5)
            if sample < end_sample:
                edges.append((sample, int(line), state == "true"))
    return sorted(set(edges))
