"""`oe-pyproc doctor` on real-layout env trees of Windows, Linux and macOS: each cause is a failure with its fix.

Windows trees hold real PE files from mingw-w64; envtrees skips those tests where it is missing.
"""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import envtrees
from oe_bootstrap import folders
from oe_bootstrap.folders import gui_folders
from oe_bootstrap.plugins import install_plugin
from oe_bootstrap.pythonenv import inspect_env
from oe_bootstrap.settings import write_python_home
from oe_pyproc.doctor import run_doctor
from oe_pyproc.doctor.checks._engines import engine_file_name
from oe_pyproc.doctor.context import DoctorContext

SYSTEM_OF = {"win": folders.WINDOWS, "osx": folders.MACOS, "linux": folders.LINUX}
PLATFORM_OF = {"win": "windows", "osx": "macos", "linux": "linux"}
SUBDIRS = ["linux-64", "osx-64", "win-64"]


def with_engine(env):
    """The engine that `pip install` / the conda package puts in the env, for the env's Python version."""
    name = engine_file_name(env.nodot, PLATFORM_OF[env.platform])
    engines = env.site_packages / "oe_pyproc" / "engines"
    engines.mkdir(parents=True, exist_ok=True)
    (engines / name).write_bytes(b"engine")
    return env


def ready_gui(tmp_path, env):
    """A GUI folder where the plugin is installed and the settings file names ENV."""
    gui = gui_folders(folders.LINUX, {}, str(tmp_path / "home"), gui_dir=str(tmp_path / "open-ephys"))
    bundle = tmp_path / "bundle"
    (bundle / "plugins").mkdir(parents=True)
    (bundle / "plugins" / "python-processor.so").write_bytes(b"plugin")
    install_plugin(gui, str(bundle), folders.LINUX)
    write_python_home(gui, str(env.root), "test")
    return gui


def diagnose(env, gui, system=None, environ=None, script=None):
    system = system or SYSTEM_OF[env.platform]
    context = DoctorContext(str(env.root), inspect_env(str(env.root)), gui, "--python-home", environ or {},
                            str(gui.saved_state) + "-user", system, script, run_probe=False)
    return {finding.id: finding for finding in run_doctor(context)}


def failed(findings):
    return {key: f for key, f in findings.items() if f.status != "ok"}


@pytest.fixture(params=SUBDIRS)
def clean(request, tmp_path):
    env = with_engine(envtrees.conda_env(tmp_path / "envs" / "oe-python-plugin", request.param))
    return env, ready_gui(tmp_path, env)


def test_a_clean_env_reports_all_ok(clean):
    env, gui = clean
    findings = diagnose(env, gui)
    assert failed(findings) == {}
    assert "conda env, Python 3.10.13" in findings["python-home"].evidence
    assert findings["resolved-home"].evidence.startswith(str(env.root))


def test_pip_over_conda_numpy(clean):
    env, gui = clean
    envtrees.pip_over_conda(env)
    finding = failed(diagnose(env, gui))["pip-over-conda"]
    assert finding.status == "fail" and "pip installed numpy 2.0.2 over conda's package numpy" in finding.evidence
    assert finding.fix.startswith("conda install -p %s --force-reinstall numpy" % env.root)


def test_two_numpy_dist_infos(clean):
    env, gui = clean
    envtrees.pip_over_conda(env, keep_conda_dist_info=True)
    finding = failed(diagnose(env, gui))["pip-over-conda"]
    assert "numpy installed twice" in finding.evidence


# Not on win-64: a Windows user site lies under %APPDATA% on Windows itself; that rule is in test_user_site_rules.
@pytest.mark.parametrize("subdir", [s for s in SUBDIRS if not s.startswith("win")])
def test_pip_user_package_is_invisible(subdir, tmp_path):
    env = with_engine(envtrees.conda_env(tmp_path / "envs" / "oe-python-plugin", subdir))
    gui = ready_gui(tmp_path, env)
    user_home = Path(gui.saved_state + "-user")
    envtrees.pip_user_install(env, user_home)
    finding = failed(diagnose(env, gui))["user-site"]
    assert finding.status == "fail" and "requests" in finding.evidence
    assert "-m pip install --no-user requests" in finding.fix


def test_numpy2_with_a_package_built_for_numpy1(clean):
    env, gui = clean
    envtrees.pip_over_conda(env)
    envtrees.install_dist(env, "oldfilter", "0.3", {"oldfilter/__init__.py": ""}, tags=["py3-none-any"])
    metadata = next(env.site_packages.glob("oldfilter-*.dist-info")) / "METADATA"
    metadata.write_text(metadata.read_text() + "Requires-Dist: numpy (<2,>=1.21)\n")
    finding = failed(diagnose(env, gui))["numpy-abi"]
    assert "oldfilter" in finding.evidence and "compiled using NumPy 1.x" in finding.evidence


def test_abi3_wheel_without_python3_dll(tmp_path):
    env = with_engine(envtrees.conda_env(tmp_path / "env", "win-64"))
    envtrees.abi3_wheel(env, python3_dll=False)
    finding = failed(diagnose(env, ready_gui(tmp_path, env)))["python3-dll"]
    assert "psutil" in finding.evidence and "python3.dll" in finding.evidence
    assert "--force-reinstall python" in finding.fix


def test_abi3_wheel_with_python3_dll_is_fine(tmp_path):
    env = with_engine(envtrees.conda_env(tmp_path / "env", "win-64"))
    envtrees.abi3_wheel(env, python3_dll=True)
    findings = diagnose(env, ready_gui(tmp_path, env))
    assert findings["python3-dll"].status == "ok" and "the plugin loads it" in findings["python3-dll"].evidence


def test_pyd_whose_dll_does_not_resolve(tmp_path):
    env = with_engine(envtrees.conda_env(tmp_path / "env", "win-64"))
    envtrees.missing_dll_extension(env)
    finding = failed(diagnose(env, ready_gui(tmp_path, env)))["dll-dependencies"]
    assert "_driver.cp310-win_amd64.pyd needs libmissing_dep.dll" in finding.evidence
    assert finding.status == "fail"


def test_a_windows_env_copied_to_linux_is_diagnosed_the_same(tmp_path):
    env = with_engine(envtrees.conda_env(tmp_path / "env", "win-64"))
    envtrees.missing_dll_extension(env)
    envtrees.abi3_wheel(env, python3_dll=False)
    envtrees.pip_over_conda(env)
    gui = ready_gui(tmp_path, env)
    on_windows, on_linux = diagnose(env, gui, folders.WINDOWS), diagnose(env, gui, folders.LINUX)
    env_checks = ["python-home", "python-version", "libpython", "architecture", "numpy", "pip-over-conda",
                  "python3-dll", "dll-dependencies", "dll-conflicts", "engine"]
    assert {key: on_linux[key].status for key in env_checks} == {key: on_windows[key].status for key in env_checks}
    assert {"pip-over-conda", "python3-dll", "dll-dependencies"} <= set(failed(on_linux))


def test_arm64_env_for_the_x86_64_plugin(tmp_path):
    env = with_engine(envtrees.conda_env(tmp_path / "env", "osx-arm64"))
    finding = failed(diagnose(env, ready_gui(tmp_path, env)))["architecture"]
    assert "arm64" in finding.evidence and "plugin is x86_64" in finding.evidence
    assert finding.fix.startswith("CONDA_SUBDIR=osx-64 conda create")


def test_venv_whose_base_python_is_gone(tmp_path):
    env = envtrees.venv(tmp_path / "venv", tmp_path / "gone" / "python3.10")
    findings = failed(diagnose(env, ready_gui(tmp_path, env)))
    assert "is gone" in findings["venv-base"].evidence and "-m venv --clear" in findings["venv-base"].fix
    assert findings["libpython"].status == "fail"


def test_wrong_python_version(tmp_path):
    env = envtrees.conda_env(tmp_path / "env", "linux-64", python="3.12.7")
    finding = failed(diagnose(env, ready_gui(tmp_path, env)))["python-version"]
    assert "Python 3.12.7" in finding.evidence and "no engine for Python 3.12 was found" in finding.evidence
    assert "python=3.10" in finding.fix


@pytest.mark.parametrize("variable", ["PYTHONPATH", "PYTHONHOME"])
def test_leaking_environment_variables(tmp_path, variable):
    env = with_engine(envtrees.conda_env(tmp_path / "env", "linux-64"))
    finding = failed(diagnose(env, ready_gui(tmp_path, env), environ={variable: "/opt/other"}))["environment-variables"]
    assert finding.status == "fail" and variable + "=/opt/other" in finding.evidence
    assert finding.fix.startswith("unset " + variable)


def test_gui_side_without_the_plugin_or_a_home(tmp_path):
    env = with_engine(envtrees.conda_env(tmp_path / "env", "linux-64"))
    gui = gui_folders(folders.LINUX, {}, str(tmp_path), gui_dir=str(tmp_path / "never-ran"))
    findings = failed(diagnose(env, gui))
    assert findings["gui-folder"].status == "warn"
    assert findings["plugin-installed"].fix.startswith("oe-pyproc install-plugin")
    assert findings["resolved-home"].status == "fail" and "--python-home %s" % env.root in findings["resolved-home"].fix


def tree_digest(root):
    digest = hashlib.sha256()
    for folder, subfolders, names in sorted(os.walk(root)):
        subfolders.sort()
        for name in sorted(names):
            path = os.path.join(folder, name)
            digest.update(path.encode())
            if not os.path.islink(path):
                with open(path, "rb") as stream:
                    digest.update(stream.read())
    return digest.hexdigest()


def test_cli_json_ids_exit_status_and_nothing_modified(tmp_path):
    env = with_engine(envtrees.conda_env(tmp_path / "env", "linux-64"))
    envtrees.pip_over_conda(env)
    gui = ready_gui(tmp_path, env)
    before = tree_digest(tmp_path)
    done = subprocess.run([sys.executable, "-m", "oe_pyproc", "doctor", "--python-home", str(env.root), "--gui-dir",
                           gui.saved_state, "--no-probe", "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    findings = json.loads(done.stdout)["findings"]
    assert all(set(f) == {"id", "status", "title", "evidence", "fix"} for f in findings)
    ids = [f["id"] for f in findings]
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert all("| `%s` |" % finding_id in readme for finding_id in ids), "every id is listed in the README"
    assert {f["id"]: f["status"] for f in findings}["pip-over-conda"] == "fail"
    assert tree_digest(tmp_path) == before


def test_script_through_the_real_engine(tmp_path, pyhost):
    script = tmp_path / "raises.py"
    script.write_text("class PyProcessor:\n    def __init__(self, processor, num_channels, sample_rate):\n"
                      "        pass\n    def process(self, data):\n        raise ValueError('bad gain')\n")
    done = subprocess.run([sys.executable, "-m", "oe_pyproc", "doctor", "--python-home", sys.prefix, "--gui-dir",
                           str(tmp_path / "gui"), "--script", str(script), "--json"], capture_output=True, text=True,
                          timeout=120)
    findings = {f["id"]: f for f in json.loads(done.stdout)["findings"]}
    assert findings["script"]["status"] == "fail"
    assert "ValueError: bad gain" in findings["script"]["evidence"] and "raises.py:5" in findings["script"]["evidence"]
    assert findings["python-runs"]["status"] == "ok" and findings["numpy"]["status"] == "ok"


def test_extension_needing_a_newer_libstdcxx_than_the_systems(tmp_path, monkeypatch):
    from oe_pyproc.doctor.checks import glibcxx

    env = with_engine(envtrees.conda_env(tmp_path / "env", "linux-64"))
    extension = env.site_packages / "fastfilt" / env.extension("_core")
    extension.parent.mkdir()
    extension.write_bytes(envtrees.elf_file(needed=["libstdc++.so.6"], glibcxx="3.4.30").read_bytes())
    monkeypatch.setattr(glibcxx, "SYSTEM_LIBSTDCXX", [str(envtrees.libstdcxx_file(provides="3.4.19"))])
    finding = failed(diagnose(env, ready_gui(tmp_path, env), folders.LINUX))["glibcxx"]
    assert "needs GLIBCXX_3.4.30" in finding.evidence and "(GLIBCXX_3.4.19)" in finding.evidence
    assert "LD_PRELOAD=" in finding.fix
    monkeypatch.setattr(glibcxx, "SYSTEM_LIBSTDCXX", [str(envtrees.libstdcxx_file(provides="3.4.30"))])
    assert diagnose(env, ready_gui(tmp_path / "again", env), folders.LINUX)["glibcxx"].status == "ok"
