"""`oe-pyproc setup` from the user's side: find or create the env, verify it, write the Python Home, install the plugin."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from oe_bootstrap.chains import python_homes_in_chain

CHAINS = Path(__file__).parent / "data" / "chains"
PLUGIN_BYTES = b"\x7fELF stand-in plugin library"


def runnable_env(prefix: Path, conda: bool = True, plugin: bool = False) -> Path:
    """A real, runnable Python 3.10 env whose packages are this test run's (numpy included)."""
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(prefix)], check=True)
    site = prefix / "lib" / ("python%d.%d" % sys.version_info[:2]) / "site-packages"
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    if conda:
        (prefix / "conda-meta").mkdir()
        (prefix / "conda-meta" / "history").write_text("==> 2026-11-23 <==\n")
    if plugin:
        bundle = prefix / "share" / "oe-python-processor" / "plugin-api10"
        (bundle / "plugins").mkdir(parents=True)
        (bundle / "plugins" / "python-processor.so").write_bytes(PLUGIN_BYTES)
        (bundle / "shared" / "python-processor").mkdir(parents=True)
        (bundle / "shared" / "python-processor" / "libpyproc_engine_cp310.so").write_bytes(b"engine")
    return prefix


def oe_pyproc(*args, home: Path, path_dirs=(), port: int = 9):
    """Run the command as a user would, with its own HOME and PATH; port 9 (discard) has no GUI."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("CONDA", "MAMBA"))}
    environ.update(HOME=str(home), PATH=os.pathsep.join([*map(str, path_dirs), "/usr/bin", "/bin"]),
                   XDG_CONFIG_HOME=str(home / ".config"))
    return subprocess.run([sys.executable, "-m", "oe_pyproc", *args, "--port", str(port)], capture_output=True,
                          text=True, env=environ, timeout=120)


@pytest.fixture
def gui_dir(tmp_path):
    configs = tmp_path / "Open Ephys é" / "configs-api10"
    configs.mkdir(parents=True)
    shutil.copy(CHAINS / "gui10_file_reader_python_record.xml", configs / "lastConfig.xml")
    return configs.parent


def test_setup_with_a_python_home_writes_settings_chain_and_plugin(tmp_path, gui_dir):
    env = runnable_env(tmp_path / "lab envs" / "oe-python-plugin", plugin=True)
    original_chain = (gui_dir / "configs-api10" / "lastConfig.xml").read_bytes()
    done = oe_pyproc("setup", "--python-home", str(env), "--gui-dir", str(gui_dir), home=tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "numpy" in done.stdout
    settings = json.loads((gui_dir / "configs-api10" / "python-processor.json").read_text())
    assert settings["python_home"] == str(env)
    chain = gui_dir / "configs-api10" / "lastConfig.xml"
    assert [node.python_home for node in python_homes_in_chain(str(chain))] == [str(env)]
    assert (gui_dir / "configs-api10" / "lastConfig.xml.bak").read_bytes() == original_chain
    assert (gui_dir / "plugins-api10" / "python-processor.so").read_bytes() == PLUGIN_BYTES
    assert (gui_dir / "shared-api10" / "python-processor" / "libpyproc_engine_cp310.so").is_file()
    registry = ET.parse(gui_dir / "plugins-api10" / "installedPlugins.xml").getroot()
    assert registry.find("InstalledPlugins/PythonProcessor").get("dllName") == "python-processor.so"


def test_setup_stops_on_an_env_without_numpy_and_writes_nothing(tmp_path, gui_dir):
    env = tmp_path / "bare"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(env)], check=True)
    done = oe_pyproc("setup", "--python-home", str(env), "--gui-dir", str(gui_dir), home=tmp_path / "home")
    assert done.returncode == 1
    assert "numpy does not import" in done.stdout and "conda install" in done.stdout
    assert not (gui_dir / "configs-api10" / "python-processor.json").exists()
    assert not (gui_dir / "configs-api10" / "lastConfig.xml.bak").exists()


def test_setup_without_the_env_says_how_to_create_it(tmp_path, gui_dir):
    done = oe_pyproc("setup", "--gui-dir", str(gui_dir), home=tmp_path / "home")
    assert done.returncode == 1
    assert "no conda env named oe-python-plugin" in done.stdout and "--create" in done.stdout


def fake_mamba(base: Path, fails: bool = False) -> Path:
    """A mamba that answers `env create` by making a runnable env under <base>/envs, printing progress."""
    script = base / "bin" / "mamba"
    script.parent.mkdir(parents=True)
    maker = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pathlib import Path
        from test_setup import runnable_env
        runnable_env(Path({str(base)!r}) / "envs" / sys.argv[1])
    """)
    (base / "make_env.py").write_text(maker)
    (base / "conda-meta").mkdir()
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo "mamba $@" > "{base}/called"
        echo "Transaction: python 3.10, numpy 2.2.6"
        echo "Linking numpy-2.2.6"
        {"echo 'critical libmamba nothing provides oe-python-processor'; exit 1" if fails else ""}
        {sys.executable} "{base}/make_env.py" "$4"
    """))
    script.chmod(0o755)
    return script


def test_setup_create_streams_the_frontend_and_uses_the_new_env(tmp_path, gui_dir):
    home = tmp_path / "home"
    base = home / "miniforge3"
    fake_mamba(base)
    done = oe_pyproc("setup", "--create", "--gui-dir", str(gui_dir), home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    called = (base / "called").read_text().split()
    assert called[:6] == ["mamba", "env", "create", "--name", "oe-python-plugin", "--file"]
    assert "oe-python-processor" in Path(called[6]).read_text()  # the project's environment.yml
    assert "Linking numpy-2.2.6" in done.stdout
    env = base / "envs" / "oe-python-plugin"
    assert json.loads((gui_dir / "configs-api10" / "python-processor.json").read_text())["python_home"] == str(env)


def test_setup_create_failure_shows_the_frontends_last_words(tmp_path, gui_dir):
    home = tmp_path / "home"
    fake_mamba(home / "miniforge3", fails=True)
    done = oe_pyproc("setup", "--create", "--gui-dir", str(gui_dir), home=home)
    assert done.returncode == 1
    assert "nothing provides oe-python-processor" in done.stdout and "exited with status 1" in done.stdout
    assert not (gui_dir / "configs-api10" / "python-processor.json").exists()


def test_zipapp_runs_setup_on_python_3_8(tmp_path, gui_dir):
    from pythons import pyenv_python

    python38 = pyenv_python("3.8")
    if python38 is None:
        pytest.skip("no pyenv Python 3.8 on this machine")
    repo = Path(__file__).parent.parent
    pyz = tmp_path / "oe-pyproc-bootstrap.pyz"
    subprocess.run([str(python38), str(repo / "bootstrap" / "make_zipapp.py"), str(pyz)], check=True)
    env = runnable_env(tmp_path / "env")
    done = subprocess.run([str(python38), str(pyz), "setup", "--python-home", str(env), "--gui-dir", str(gui_dir),
                           "--port", "9"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((gui_dir / "configs-api10" / "python-processor.json").read_text())["python_home"] == str(env)
    assert "carries no plugin build" in done.stdout and "install-plugin --zip" in done.stdout


def test_setup_with_the_gui_running_sets_the_home_live_and_leaves_its_chains(tmp_path, gui_dir):
    from test_gui_api import FakeGui, make_handler
    from http.server import ThreadingHTTPServer
    import threading

    state = FakeGui()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        env = runnable_env(tmp_path / "env", plugin=True)
        chain = gui_dir / "configs-api10" / "lastConfig.xml"
        before = chain.read_bytes()
        done = oe_pyproc("setup", "--python-home", str(env), "--gui-dir", str(gui_dir), home=tmp_path / "home",
                         port=server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 1, done.stdout  # the plugin could not be installed under a running GUI
    assert "set live in the running GUI (processors 101, 102)" in done.stdout
    assert "close it first" in done.stdout
    assert [state.find(node, "python_home")["value"] for node in (101, 102)] == [str(env), str(env)]
    assert chain.read_bytes() == before  # the GUI rewrites its own chains at exit
    assert json.loads((gui_dir / "configs-api10" / "python-processor.json").read_text())["python_home"] == str(env)


def test_setup_takes_a_home_of_another_python_when_its_engine_is_there(tmp_path, gui_dir):
    """One rule with the doctor and the plugin (oe_bootstrap.engines): the version's engine is found."""
    from pythons import pyenv_python
    from test_python_versions import build_engine, venv_with_numpy

    python = pyenv_python("3.11")
    if python is None:
        pytest.skip("no CPython 3.11 with a shared libpython under pyenv on this machine")
    venv = venv_with_numpy(python, "3.11")
    engines = venv / "lib" / "python3.11" / "site-packages" / "oe_pyproc" / "engines"
    shutil.rmtree(engines, ignore_errors=True)
    refused = oe_pyproc("setup", "--python-home", str(venv), "--gui-dir", str(gui_dir), home=tmp_path / "home")
    assert refused.returncode == 1
    assert "no engine for Python 3.11 was found" in refused.stdout and str(engines) in refused.stdout
    assert not (gui_dir / "configs-api10" / "python-processor.json").exists()

    engines.mkdir(parents=True)
    shutil.copy(build_engine(python, "3.11") / "libpyproc_engine_cp311.so", engines)
    try:
        done = oe_pyproc("setup", "--python-home", str(venv), "--gui-dir", str(gui_dir), home=tmp_path / "home")
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads((gui_dir / "configs-api10" / "python-processor.json").read_text())["python_home"] == str(venv)
        doctor = subprocess.run([sys.executable, "-m", "oe_pyproc", "doctor", "--python-home", str(venv),
                                 "--gui-dir", str(gui_dir), "--json"], capture_output=True, text=True)
        version = [f for f in json.loads(doctor.stdout)["findings"] if f["id"] == "python-version"][0]
        assert version["status"] == "ok", version
    finally:
        shutil.rmtree(engines)
