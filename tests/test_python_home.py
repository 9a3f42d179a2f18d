"""Each bad Python Home gets its own sentence and a clean exit, before Python starts."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oe_pyproc.host import host_command, run_host
from pythons import pyenv_python

SYNTHETIC = "synthetic:channels=4,rate=1000,seconds=0.1,block=50"


def run_with_home(pyhost, home: Path):
    script = pyhost.script("passthrough.py")
    return run_host(host_command([script], home, input_source=SYNTHETIC), echo=lambda line: None)


def make_venv(python: Path, folder: Path, *extra) -> Path:
    subprocess.run([str(python), "-m", "venv", "--without-pip", *extra, str(folder)], check=True)
    return folder


def test_missing_folder(pyhost, tmp_path):
    result = run_with_home(pyhost, tmp_path / "no-such-env")
    assert result.returncode == 3 and result.summary is None
    assert result.reason == f"Python Home '{tmp_path / 'no-such-env'}' does not exist; name the folder of a conda " \
                            "env or Python installation"


def test_a_folder_that_is_no_python(pyhost, tmp_path):
    result = run_with_home(pyhost, tmp_path)
    assert result.returncode == 3
    assert "is not a Python installation" in result.reason and str(tmp_path) in result.reason


def test_the_bin_folder_instead_of_the_env(pyhost, python_home):
    result = run_with_home(pyhost, python_home / "bin")
    assert result.returncode == 3
    assert f"use '{python_home}' instead" in result.reason


def test_venv_whose_base_python_is_gone(pyhost, tmp_path):
    venv = tmp_path / "orphan"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /opt/deleted-python/bin\nversion = 3.10.13\n")
    result = run_with_home(pyhost, venv)
    assert result.returncode == 3
    assert "whose base Python '/opt/deleted-python/bin' no longer exists" in result.reason


def test_embeddable_layout_without_standard_library(pyhost, tmp_path):
    base = Path(sys.base_prefix)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    home = tmp_path / "embeddable"
    (home / "lib").mkdir(parents=True)
    for library in (base / "lib").glob(f"libpython{version}.so*"):
        os.symlink(library, home / "lib" / library.name)
    result = run_with_home(pyhost, home)
    assert result.returncode == 3
    assert "has no standard library" in result.reason and f"python{version}/os.py" in result.reason


def test_python_without_shared_library(pyhost, tmp_path):
    home = tmp_path / "static"
    (home / "lib" / "python3.10").mkdir(parents=True)
    (home / "lib" / "python3.10" / "os.py").write_text("")
    result = run_with_home(pyhost, home)
    assert result.returncode == 3
    assert "built without --enable-shared" in result.reason


def test_numpy_missing(pyhost, tmp_path):
    venv = make_venv(Path(sys.base_prefix) / "bin" / "python3", tmp_path / "no-numpy")
    result = run_with_home(pyhost, venv)
    assert result.returncode == 3
    assert result.reason.startswith(f"numpy is not installed in '{venv}'; install it with `")
    assert "-m pip install numpy" in result.reason


def test_conda_env_without_python(pyhost, tmp_path):
    env = tmp_path / "envs" / "empty"
    (env / "conda-meta").mkdir(parents=True)
    (env / "conda-meta" / "history").write_text("")
    result = run_with_home(pyhost, env)
    assert result.returncode == 3
    assert "is a conda env without Python" in result.reason and "conda install -p" in result.reason


def test_python_version_without_an_engine(pyhost, tmp_path):
    python39 = pyenv_python("3.9")
    if python39 is None:
        pytest.skip("no CPython 3.9 under pyenv on this machine")
    venv = make_venv(python39, tmp_path / "py39")
    fake_numpy = venv / "lib" / "python3.9" / "site-packages" / "numpy"
    fake_numpy.mkdir(parents=True)
    (fake_numpy / "__init__.py").write_text("")
    result = run_with_home(pyhost, venv)
    assert result.returncode == 3
    assert "no engine for Python 3.9 (libpyproc_engine_cp39.so) was found in" in result.reason
    assert "-m pip install oe-python-processor" in result.reason


def test_python_too_old(pyhost):
    python27 = pyenv_python("2.7")
    if python27 is None:
        pytest.skip("no CPython 2.7 under pyenv on this machine")
    result = run_with_home(pyhost, python27.parent.parent)
    assert result.returncode == 3
    assert "holds Python 2.7; the plugin needs Python 3.8 or newer" in result.reason


def test_a_debian_style_system_python_is_recognised(pyhost):
    """/usr with libpython in lib/<multiarch>/: not 'built without --enable-shared'."""
    libraries = sorted(Path("/usr/lib").glob("*-linux-*/libpython3.*.so.1.0"))
    if not libraries or not (Path("/usr/lib") / libraries[-1].name.split(".so")[0][3:] / "os.py").exists():
        pytest.skip("no Debian-style system Python with a shared libpython here")
    result = run_with_home(pyhost, Path("/usr"))
    assert result.returncode == 3
    assert "--enable-shared" not in result.reason
    has_numpy = any((Path("/usr/lib") / sub / "numpy").exists() for sub in ("python3/dist-packages",))
    if not has_numpy:
        assert result.reason.startswith("numpy is not installed in '/usr'")
    else:
        assert "no engine for Python" in result.reason
