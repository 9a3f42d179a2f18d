"""Runs pyproc-host, the GUI-free twin of the plugin, and reads its summary."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

HOST_NAME = "pyproc-host" + (".exe" if os.name == "nt" else "")
BUNDLED_ENGINES = Path(__file__).parent / "engines"


class HostNotFound(RuntimeError):
    pass


def host_executable() -> Path:
    """pyproc-host as installed beside this package's Python, else on PATH."""
    override = os.environ.get("OE_PYPROC_HOST")
    candidates = [Path(override)] if override else []
    candidates.append(Path(sysconfig.get_path("scripts")) / HOST_NAME)
    candidates.append(Path(sys.executable).parent / HOST_NAME)
    found = shutil.which("pyproc-host")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise HostNotFound(
        "pyproc-host is not installed; run `pip install .` in the oe-python-processor folder "
        "(or set OE_PYPROC_HOST to its path)"
    )


def current_python_home() -> Path:
    """The environment this command runs in: a conda env, a venv or an installation."""
    return Path(sys.prefix)


@dataclass
class HostRun:
    returncode: int
    summary: Optional[dict]
    stderr: str
    command: list = field(default_factory=list)

    @property
    def reason(self) -> str:
        """The host's one-line reason for a non-zero exit."""
        lines = [line for line in self.stderr.splitlines() if line.startswith("pyproc-host: ")]
        return lines[-1][len("pyproc-host: "):] if lines else self.stderr.strip()


def host_command(script_paths: Sequence[str], python_home: Path, *, input_source: Optional[str] = None,
                 output: Optional[str] = None, instances: int = 1, extra: Sequence[str] = ()) -> list:
    command = [str(host_executable()), "--python-home", str(python_home), "--json"]
    if BUNDLED_ENGINES.is_dir():  # a home without oe-python-processor installed can still use ours
        command += ["--engine-dir", str(BUNDLED_ENGINES)]
    for script in script_paths:
        command += ["--script", str(script)]
    if instances != 1:
        command += ["--instances", str(instances)]
    if input_source:
        command += ["--input", input_source]
    if output:
        command += ["--output", str(output)]
    return command + list(extra)


def run_host(command: list, on_progress: Optional[Callable[[int, int], None]] = None,
             echo: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> HostRun:
    """Runs the host; progress lines go to on_progress, the module's own output to echo."""
    process = subprocess.Popen(command + (["--progress"] if on_progress else []), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace")
    stderr_lines = []
    assert process.stderr is not None and process.stdout is not None
    # stdout is drained on a thread of its own: a large summary must not block
    # the host while this thread waits for stderr to close.
    stdout_chunks: list = []
    reader = threading.Thread(target=lambda: stdout_chunks.append(process.stdout.read()), daemon=True)
    reader.start()
    for line in process.stderr:
        line = line.rstrip("\n")
        if line.startswith("@progress ") and on_progress:
            done, total = (int(part) for part in line.split()[1:3])
            on_progress(done, total)
            continue
        stderr_lines.append(line)
        if not line.startswith("pyproc-host: "):
            echo(line)
    reader.join()
    stdout = "".join(stdout_chunks)
    returncode = process.wait()
    summary = json.loads(stdout) if stdout.strip() else None
    return HostRun(returncode, summary, "\n".join(stderr_lines), command)


VIEWER_START_SECONDS = 20.0


class ViewerNotStarted(RuntimeError):
    """`oe-pyproc view` did not come up; the message ends with what it printed."""


def start_viewer(wait_seconds: float = VIEWER_START_SECONDS) -> str:
    """`oe-pyproc view --open` in a process of its own that outlives the caller: it opens the viewer that is
    already running, or starts one and opens it. Returns the viewer's URL once it runs (live.running_viewer)
    and serves its page; raises ViewerNotStarted with its output (kept in viewer.log, as the GUI's button
    keeps it) if it did not come up within wait_seconds."""
    import time

    from oe_pyproc.live import live_dir, running_viewer, viewer_answers

    log = live_dir() / "viewer.log"
    log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(log, "ab") as output:
        options: dict = {"stdin": subprocess.DEVNULL, "stdout": output, "stderr": output}
        if os.name == "nt":
            options["creationflags"] = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            options["start_new_session"] = True  # not stopped by the terminal's Ctrl+C meant for the run
        process = subprocess.Popen([sys.executable, "-m", "oe_pyproc", "view", "--open"], **options)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        url = running_viewer()
        if url and viewer_answers(url):
            return url
        if process.poll() not in (None, 0):
            break
        time.sleep(0.1)
    said = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
    raise ViewerNotStarted("the live viewer did not start" + (": " + " / ".join(said) if said else "") +
                           f" (log: {log})")
