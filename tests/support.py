"""Helpers the tests share: polling for a condition, a free local port, small programs built for a test, a
machine's folders made from a case of a shared rule table, and the isolated mode's worker processes of a
parent."""
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


def make_machine(case: dict, root: Path) -> dict:
    """The folders and files a rule table's CASE describes, made under ROOT (with ROOT/home for HOME):
    "envs" (conda envs: their conda-meta), "dirs", "files" (text, {root} filled in), "bytes_hex" (bytes),
    "executables"; returns the case's "environ" ({root} filled in) over a PATH that finds nothing."""
    fill = lambda text: text.replace("{root}", str(root))  # noqa: E731
    (root / "home").mkdir(parents=True)
    for env in case.get("envs", []):
        (root / env / "conda-meta").mkdir(parents=True, exist_ok=True)
    for folder in case.get("dirs", []):
        (root / folder).mkdir(parents=True, exist_ok=True)
    contents = {name: fill(text).encode("utf-8") for name, text in case.get("files", {}).items()}
    contents.update({name: bytes.fromhex(data) for name, data in case.get("bytes_hex", {}).items()})
    for name, data in contents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    for name in case.get("executables", []):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("#!/bin/sh\n")
        (root / name).chmod(0o755)
    environ = {"PATH": str(root / "no-such-folder")}
    environ.update({key: fill(value) for key, value in case.get("environ", {}).items()})
    return environ


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
