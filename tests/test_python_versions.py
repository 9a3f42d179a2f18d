"""The engine works with every CPython 3.10+ on this machine, each through its own engine build,
and with each kind of Python Home: venv, plain installation and conda env layout."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from oe_pyproc.host import host_command, run_host
from conftest import events_of
from pythons import pyenv_python

REPO = Path(__file__).resolve().parents[1]
BUILDS = REPO / "build" / "test-engines"
VERSIONS = ["3.10", "3.11", "3.12", "3.13"]


def build_engine(python: Path, version: str) -> Path:
    """Configures and builds only the engine for `python`; cached across runs in build/."""
    import pybind11

    build = BUILDS / version
    configure = ["cmake", "-S", str(REPO), "-B", str(build), "-DPYPROC_ENGINE_ONLY=ON",
                 f"-DPython_EXECUTABLE={python}", f"-Dpybind11_DIR={pybind11.get_cmake_dir()}"]
    subprocess.run(configure, check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build), "--parallel", "2"], check=True, capture_output=True)
    return build / "cpp" / "engine"


def venv_with_numpy(python: Path, version: str) -> Path:
    venv = BUILDS / f"venv-{version}"
    if not (venv / "pyvenv.cfg").exists():
        subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "numpy"]
    subprocess.run(pip, check=True)
    return venv


def conda_layout(python: Path, version: str, tmp_path: Path) -> Path:
    """A conda env's layout over a real installation: conda-meta with its python record."""
    install = python.parent.parent
    env = tmp_path / "envs" / "oe-python-plugin"
    (env / "conda-meta").mkdir(parents=True)
    full = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    record = {"name": "python", "version": full, "build": "h_cpython", "files": []}
    (env / "conda-meta" / f"python-{full}-h_cpython.json").write_text(json.dumps(record))
    for folder in ("bin", "lib", "include"):
        os.symlink(install / folder, env / folder)
    return env


def run_passthrough(pyhost, home: Path, engine_dir: Path):
    script = pyhost.script("record_callbacks.py")
    command = host_command([script], home, input_source="synthetic:channels=4,rate=1000,seconds=0.2,block=50",
                           extra=["--engine-dir", str(engine_dir)])
    return run_host(command, echo=lambda line: None)


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_engine_per_python_version_in_a_venv(pyhost, version):
    python = pyenv_python(version)
    if python is None:
        pytest.skip(f"no CPython {version} with a shared libpython under pyenv on this machine")
    engine_dir = build_engine(python, version)
    venv = venv_with_numpy(python, version)
    result = run_passthrough(pyhost, venv, engine_dir)
    assert result.returncode == 0, result.stderr
    assert result.summary["python_version"].startswith(version + ".")
    assert result.summary["python_home_kind"] == "venv"
    assert result.summary["engine"].endswith(f"libpyproc_engine_cp{version.replace('.', '')}.so")
    assert result.summary["instances"][0]["calls"] == 4


@pytest.mark.slow
def test_plain_installation_and_conda_layout(pyhost, tmp_path):
    """pyenv's 3.11 has numpy in its own site-packages: usable as installation and as conda env."""
    python = pyenv_python("3.11")
    if python is None:
        pytest.skip("no CPython 3.11 under pyenv on this machine")
    has_numpy = subprocess.run([str(python), "-c", "import numpy"], capture_output=True).returncode == 0
    if not has_numpy:
        pytest.skip("pyenv's 3.11 has no numpy installed")
    engine_dir = build_engine(python, "3.11")
    installation = run_passthrough(pyhost, python.parent.parent, engine_dir)
    assert installation.returncode == 0, installation.stderr
    assert installation.summary["python_home_kind"] == "installation"

    env = conda_layout(python, "3.11", tmp_path)
    conda = run_passthrough(pyhost, env, engine_dir)
    assert conda.returncode == 0, conda.stderr
    assert conda.summary["python_home_kind"] == "conda env"
    assert conda.summary["python_version"].startswith("3.11.")


PTH_PROBE = '''
import json, os, sys
import from_pth_folder          # importable only through a .pth file

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "interpreter.json"), "w") as out:
    json.dump({"executable": sys.executable, "prefix": sys.prefix, "base_prefix": sys.base_prefix,
               "pth_module": from_pth_folder.__file__}, out)


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        pass

    def process(self, data):
        pass
'''


@pytest.mark.slow
def test_pth_files_and_sys_executable_in_a_venv(pyhost, tmp_path):
    """A venv over 3.11 (numpy from its base): .pth files honoured, sys.executable is the venv's python."""
    python = pyenv_python("3.11")
    if python is None or subprocess.run([str(python), "-c", "import numpy"], capture_output=True).returncode:
        pytest.skip("needs pyenv's CPython 3.11 with numpy installed")
    engine_dir = build_engine(python, "3.11")
    venv = tmp_path / "venv with spaces"
    subprocess.run([str(python), "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "from_pth_folder.py").write_text("")
    (venv / "lib" / "python3.11" / "site-packages" / "extra.pth").write_text(f"{extra}\n")
    script = pyhost.script("pth_probe.py", PTH_PROBE)
    command = host_command([script], venv, input_source="synthetic:channels=2,rate=1000,seconds=0.1,block=50",
                           extra=["--engine-dir", str(engine_dir)])
    result = run_host(command, echo=lambda line: None)
    assert result.returncode == 0, result.summary and result.summary["instances"][0]["error"]
    seen = json.loads((script.parent / "interpreter.json").read_text())
    assert seen["executable"] == str(venv / "bin" / "python3.11")
    assert seen["prefix"] == str(venv) and seen["base_prefix"] == str(python.parent.parent)
    assert seen["pth_module"] == str(extra / "from_pth_folder.py")


RELOAD_PROBE = '''
import sys
import numpy

# Kept on sys, which survives reloads: one entry per import of this script.
sys.__dict__.setdefault("_oe_numpy_ids", []).append(id(numpy))


class PyProcessor:
    def __init__(self, processor, num_channels, sample_rate):
        self.processor = processor

    def process(self, data):
        ids = sys._oe_numpy_ids
        # line 5 goes on when a reload imported numpy a second time
        self.processor.add_python_event(5, len(set(ids)) > 1)
'''


@pytest.mark.slow
def test_reload_keeps_packages_of_an_env_inside_the_script_folder(pyhost, tmp_path):
    """project/script.py beside project/.venv: reload must not re-import numpy from the env."""
    python = pyenv_python("3.11")
    if python is None:
        pytest.skip("no CPython 3.11 under pyenv on this machine")
    engine_dir = build_engine(python, "3.11")
    venv = venv_with_numpy(python, "3.11")   # lives in BUILDS, the script's folder below
    script = venv.parent / "reload_probe.py"
    script.write_text(RELOAD_PROBE)
    try:
        command = host_command([script], venv, input_source="synthetic:channels=2,rate=1000,seconds=0.5,block=50",
                               output=str(tmp_path / "out"), extra=["--engine-dir", str(engine_dir), "--reload-at", "3"])
        result = run_host(command, echo=lambda line: None)
    finally:
        script.unlink()
    assert result.returncode == 0, result.stderr
    events = events_of(tmp_path / "out", 101)
    assert len(events) == 10, "one event per buffer"
    assert list(events.state) == [0] * 10, "numpy was imported once, before and after the reload"
