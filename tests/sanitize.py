"""The loader, pyproc-host, pyproc-worker and the engine built with AddressSanitizer and UBSan, run over
every module of templates/, bench/, tests/scripts/ and the hostile corpus tests/hostile/ (each Choice
parameter's every option, as the hostile modules pick their misbehaviour with one), in-process and
isolated, on synthetic input with events and spikes, into a recording. Stops at the first sanitizer
report and prints it; exit 0 only with none.

    python tests/sanitize.py [--build DIR]      (Linux; a C++ compiler with libasan and libubsan)
"""
from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDERS = [REPO / "templates", REPO / "bench", REPO / "tests" / "scripts", REPO / "tests" / "hostile"]
INPUT = "synthetic:channels=16,rate=30000,seconds=0.5,block=512"
REPORT_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer", "SUMMARY: UndefinedBehavior")
# What some modules need beyond one instance on the default input, as the tests run them.
EXTRA = {
    "thread_inside_call_at_teardown.py": {"after": REPO / "tests" / "hostile" / "lingers_at_teardown.py"},
    "thread_after_reload.py": {"args": ["--reload-at", "3"], "input": "synthetic:channels=8,rate=30000,seconds=1,block=1000"},
    "keeps_view_late.py": {"input": "synthetic:channels=64,rate=30000,seconds=0.5,block=1024"},
    "resizes_fresh_data.py": {"input": "synthetic:channels=64,rate=30000,seconds=0.2,block=1024"},
}
SANITIZERS = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"


def build(folder: Path) -> Path:
    """The host, the worker and the engine (for the Python running this), sanitized; returns the build folder."""
    import pybind11

    subprocess.run(["cmake", "-S", str(REPO), "-B", str(folder), "-DCMAKE_BUILD_TYPE=Debug",
                    f"-DCMAKE_CXX_FLAGS={SANITIZERS}", "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined",
                    "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined",
                    f"-DPython_EXECUTABLE={sys.executable}", f"-Dpybind11_DIR={pybind11.get_cmake_dir()}"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(folder), "--target", "pyproc-host", "pyproc-worker", "pyproc_engine",
                    "--parallel", "2"],
                   check=True, capture_output=True)
    return folder


def scratch_home(folder: Path) -> Path:
    """A venv with this environment's packages (numpy, scipy...) linked into its site-packages, but not
    oe_pyproc: the loader takes an engine installed in the home before --engine-dir's."""
    import site
    import sysconfig

    home = folder / "home"
    if not (home / "bin" / "python").exists():
        base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        subprocess.run([str(base), "-m", "venv", "--without-pip", str(home)], check=True)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(home), "platbase": str(home)}))
    for packages in site.getsitepackages():
        for item in Path(packages).iterdir():
            link = purelib / item.name
            if not item.name.startswith("oe_pyproc") and not link.exists():
                link.symlink_to(item)
    return home


def choice_options(script: Path) -> list:
    """[(name, option)] of every Choice("name", [options...]) the module declares, read from its source."""
    found = []
    for node in ast.walk(ast.parse(script.read_text())):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Choice" and len(node.args) >= 2
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[1], ast.List)):
            found += [(node.args[0].value, item.value) for item in node.args[1].elts if isinstance(item, ast.Constant)]
    return found


def runs():
    for folder in FOLDERS:
        for script in sorted(folder.glob("*.py")):
            if "class PyProcessor" not in script.read_text():
                continue
            options = choice_options(script) if folder.name == "hostile" else []
            for param in [None] + [f"{name}={value}" for name, value in options]:
                for mode in ("--in-process", "--isolated"):
                    yield script, param, mode


def run_one(build_dir: Path, home: Path, script: Path, param, mode: str, scratch: Path) -> tuple:
    extra = EXTRA.get(script.name, {})
    command = [str(build_dir / "cpp" / "host" / "pyproc-host"), "--python-home", str(home),
               "--engine-dir", str(build_dir / "cpp" / "engine"), "--timeout", "300",
               "--input", extra.get("input", INPUT), "--output", str(scratch / "out")]
    command += ["--script", str(script)] + (["--script", str(extra["after"])] if "after" in extra else [])
    command += extra.get("args", []) + [mode]
    if param:
        command += ["--param", param]
    env = dict(os.environ, OE_PYPROC_LIVE_DIR=str(scratch), PYTHONDONTWRITEBYTECODE="1",
               PYPROC_WORKER=str(build_dir / "cpp" / "worker" / "pyproc-worker"),
               # Python itself is not instrumented and is never finalized: its memory is no leak of ours.
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:exitcode=86",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    process = subprocess.run(command, env=env, capture_output=True, text=True, errors="replace", cwd=scratch)
    shutil.rmtree(scratch / "out", ignore_errors=True)
    reported = process.returncode == 86 or any(marker in process.stderr for marker in REPORT_MARKERS)
    return process, reported


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=REPO / "build" / "sanitize")
    args = parser.parse_args()
    started = time.monotonic()
    build_dir = build(args.build)
    home = scratch_home(build_dir)
    modules, count = set(), 0
    for script, param, mode in runs():
        with tempfile.TemporaryDirectory() as scratch:
            process, reported = run_one(build_dir, home, script, param, mode, Path(scratch))
        count += 1
        modules.add(script)
        label = f"{script.relative_to(REPO)} {mode}" + (f" --param {param}" if param else "")
        if reported or process.returncode < 0 or process.returncode in (3, 4):
            print(f"sanitize: {label}: exit {process.returncode}\n{process.stderr[-6000:]}", file=sys.stderr)
            print(f"sanitize: stopped at the first report, after {count} runs", file=sys.stderr)
            return 1
        print(f"  ok (exit {process.returncode}) {label}", flush=True)
    print(f"sanitize: {len(modules)} modules, {count} runs under ASan+UBSan, 0 reports "
          f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
