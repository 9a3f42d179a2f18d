"""The Plugin Installer zip: layout and entry order the GUI's installer reads, installed into a fresh
GUI folder, and the loader finding the engine it carries. No GUI is needed."""
from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from envtrees import elf_file, pe_file
from oe_bootstrap.folders import gui_folders
from oe_bootstrap.plugins import install_plugin, plugin_zip_problem
from oe_pyproc.cli import main
from oe_pyproc.doctor.binaries import read_binary
from oe_pyproc.host import BUNDLED_ENGINES
from oe_pyproc.package import PackageError, write_plugin_zip, zip_entries
from pythons import pyenv_python
from test_python_versions import build_engine, run_passthrough, venv_with_numpy

REPO = Path(__file__).resolve().parents[1]


def names(zip_path: Path):
    with zipfile.ZipFile(zip_path) as archive:
        return [info.orig_filename for info in archive.infolist()]


@pytest.fixture
def linux_plugin(tmp_path) -> Path:
    """A real ELF shared library standing in for the plugin, which needs the GUI's headers to build."""
    plugin = tmp_path / "build" / "python-processor.so"
    plugin.parent.mkdir()
    shutil.copy(elf_file(soname="python-processor.so"), plugin)
    return plugin


@pytest.fixture
def engine_cp310() -> Path:
    engines = sorted(BUNDLED_ENGINES.glob("libpyproc_engine_cp310.so"))
    assert engines, "pip install . puts the engine for its Python into oe_pyproc/engines"
    return engines[0]


def fresh_gui(tmp_path: Path):
    return gui_folders(system="Linux", environ={}, home=str(tmp_path), gui_dir=str(tmp_path / "open-ephys"))


def test_linux_zip_has_the_plugins_folder_first_then_the_plugin(tmp_path, linux_plugin, engine_cp310):
    zip_path = write_plugin_zip(linux_plugin, [engine_cp310], tmp_path / "dist", "Linux", "0.1.0")
    assert zip_path.name == "PythonProcessor-linux_0.1.0-API10.zip"
    assert names(zip_path) == ["plugins/", "plugins/python-processor.so", "shared/", "shared/python-processor/",
                               "shared/python-processor/libpyproc_engine_cp310.so"]
    assert plugin_zip_problem(str(zip_path), "Linux") is None
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.read("shared/python-processor/libpyproc_engine_cp310.so") == engine_cp310.read_bytes()
        assert archive.getinfo("plugins/python-processor.so").external_attr >> 16 & 0o111  # stays executable


def test_zip_installs_into_a_fresh_gui_and_the_loader_uses_its_engine(tmp_path, pyhost, linux_plugin,
                                                                      engine_cp310):
    """Copying the plugin and naming a Python Home is all a user needs: the engine for a Python that
    has none installed (3.11 here) comes from the GUI's shared-api10/python-processor/."""
    python = pyenv_python("3.11")
    if python is None:
        pytest.skip("no CPython 3.11 with a shared libpython under pyenv on this machine")
    engine_cp311 = build_engine(python, "3.11") / "libpyproc_engine_cp311.so"
    zip_path = write_plugin_zip(linux_plugin, [engine_cp310, engine_cp311], tmp_path / "dist", "Linux", "0.1.0")
    gui = fresh_gui(tmp_path)
    result = install_plugin(gui, str(zip_path), "Linux")
    shared = Path(gui.shared) / "python-processor"
    assert Path(result.plugin_path) == Path(gui.plugins) / "python-processor.so"
    assert sorted(path.name for path in shared.iterdir()) == ["libpyproc_engine_cp310.so",
                                                               "libpyproc_engine_cp311.so"]

    run = run_passthrough(pyhost, venv_with_numpy(python, "3.11"), shared)
    assert run.returncode == 0, run.stderr
    assert Path(run.summary["engine"]) == shared / "libpyproc_engine_cp311.so"
    assert run.summary["python_version"].startswith("3.11.")


def test_windows_zip_stores_the_plugin_as_entry_0_with_a_backslash(tmp_path):
    plugin = tmp_path / "python-processor.dll"
    engine = tmp_path / "pyproc_engine_cp310.dll"
    shutil.copy(pe_file(exports=["getLibInfo", "getPluginInfo"]), plugin)
    shutil.copy(pe_file(imports=["python310.dll"]), engine)
    zip_path = write_plugin_zip(plugin, [engine], tmp_path / "dist", "Windows", "0.1.0")
    assert zip_path.name == "PythonProcessor-windows_0.1.0-API10.zip"
    assert names(zip_path)[0] == "plugins\\python-processor.dll"
    assert names(zip_path)[1:] == ["shared/", "shared/python-processor/",
                                   "shared/python-processor/pyproc_engine_cp310.dll"]
    assert plugin_zip_problem(str(zip_path), "Windows") is None
    gui = gui_folders(system="Windows", environ={"LOCALAPPDATA": str(tmp_path)}, home=str(tmp_path),
                      gui_dir=str(tmp_path / "Open Ephys"))
    result = install_plugin(gui, str(zip_path), "Windows")
    assert Path(result.plugin_path).name == "python-processor.dll"


def test_macos_bundle_is_entry_1_and_its_files_follow(tmp_path):
    bundle = tmp_path / "python-processor.bundle"
    (bundle / "Contents" / "MacOS").mkdir(parents=True)
    (bundle / "Contents" / "MacOS" / "python-processor").write_bytes(b"\xcf\xfa\xed\xfe")
    (bundle / "Contents" / "Info.plist").write_text("<plist/>")
    engine = tmp_path / "libpyproc_engine_cp310.dylib"
    engine.write_bytes(b"\xcf\xfa\xed\xfe")
    entries = [name for name, _ in zip_entries(bundle, [engine], "Darwin")]
    assert entries[:2] == ["plugins/", "plugins/python-processor.bundle/"]
    assert "plugins/python-processor.bundle/Contents/MacOS/python-processor" in entries
    assert entries[-1] == "shared/python-processor/libpyproc_engine_cp310.dylib"
    zip_path = write_plugin_zip(bundle, [engine], tmp_path / "dist", "Darwin", "0.1.0")
    assert zip_path.name == "PythonProcessor-mac_0.1.0-API10.zip"
    assert plugin_zip_problem(str(zip_path), "Darwin") is None


@pytest.mark.parametrize("plugin_name, engine_name, message", [
    ("python-processor.dll", "libpyproc_engine_cp310.so", "is not a linux plugin (expected a .so file)"),
    ("python-processor.so", "pyproc_engine_cp310.dll", "is not a linux engine name"),
    ("python-processor.so", None, "no engine to package"),
])
def test_wrong_inputs_are_refused_and_no_zip_is_left(tmp_path, plugin_name, engine_name, message):
    plugin = tmp_path / plugin_name
    plugin.write_bytes(b"plugin")
    engines = []
    if engine_name:
        engines.append(tmp_path / engine_name)
        engines[0].write_bytes(b"engine")
    with pytest.raises(PackageError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        write_plugin_zip(plugin, engines, tmp_path / "dist", "Linux", "0.1.0")
    assert not list(tmp_path.glob("dist/*"))


def test_package_command_writes_the_zip_and_explains_a_missing_plugin(tmp_path, linux_plugin, engine_cp310,
                                                                      capsys):
    assert main(["package", "--plugin", str(linux_plugin), "--os", "linux", "--version", "0.2.0",
                 "--output-dir", str(tmp_path / "dist")]) == 0
    zip_path = tmp_path / "dist" / "PythonProcessor-linux_0.2.0-API10.zip"
    assert names(zip_path)[:2] == ["plugins/", "plugins/python-processor.so"]
    assert "shared/python-processor/libpyproc_engine_cp310.so" in names(zip_path)  # the installed engine
    assert main(["package", "--plugin", str(tmp_path / "missing.so"), "--output-dir", str(tmp_path / "dist")]) == 1
    assert "build it with -DGUI_BASE_DIR" in capsys.readouterr().out
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert main(["package", "--plugin", str(linux_plugin), "--output-dir", str(blocked)]) == 1
    assert "a-file" in capsys.readouterr().out  # said in words, not a traceback


def configure(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    import pybind11

    return subprocess.run(["cmake", "-S", str(REPO), "-B", str(tmp_path / "build"),
                           f"-Dpybind11_DIR={pybind11.get_cmake_dir()}", *arguments],
                          capture_output=True, text=True)


def test_cmake_without_gui_headers_says_the_plugin_is_skipped(tmp_path):
    result = configure(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "GUI plugin skipped: set -DGUI_BASE_DIR" in result.stdout


def test_cmake_with_a_folder_that_is_not_a_gui_checkout_stops_with_the_reason(tmp_path):
    result = configure(tmp_path, f"-DGUI_BASE_DIR={tmp_path}")
    assert result.returncode != 0
    assert "is not a plugin-GUI checkout" in result.stderr


def readme_plugin_build() -> tuple:
    """The README's plugin build command and the GUI folder it names."""
    import re

    found = re.search(r"^(cmake -S \. -B build/plugin -G Ninja -DGUI_BASE_DIR=(\S+) && cmake --build build/plugin)\s",
                      (REPO / "README.md").read_text(), re.MULTILINE)
    assert found, "README.md lost its plugin build command"
    return found.group(1), found.group(2)


def tracked_sources(destination: Path) -> Path:
    """The repository's files as a fresh clone has them (git ls-files), nothing built."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: a fresh clone's files cannot be listed")
    for name in filter(None, listed.stdout.split("\0")):
        if (REPO / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)
    return destination


def test_the_readmes_plugin_build_command_builds_the_plugin_in_a_fresh_clone(tmp_path):
    from gui_session import gui_base_dir

    if gui_base_dir() is None or shutil.which("ninja") is None:
        pytest.skip("needs the prebuilt GUI (or GUI_BASE_DIR) and ninja (./dev test installs ninja-build)")
    command, named_folder = readme_plugin_build()
    clone = tracked_sources(tmp_path / "clone")
    built = subprocess.run(command.replace(named_folder, str(gui_base_dir())), shell=True, cwd=clone,
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    plugin = clone / "build" / "plugin" / "cpp" / "plugin" / "python-processor.so"
    assert plugin.is_file()
    assert not [name for name in read_binary(plugin).imports if "python" in name]  # links no libpython


def test_without_pybind11_the_engine_is_skipped_with_the_reason_and_the_plugin_still_configures(tmp_path):
    from gui_session import gui_base_dir

    if gui_base_dir() is None:
        pytest.skip("needs the prebuilt GUI (or GUI_BASE_DIR)")
    venv = tmp_path / "bare"  # a Python without pybind11, first on PATH, as on a fresh machine
    subprocess.run([pyenv_python("3.10") or shutil.which("python3"), "-m", "venv", "--without-pip", str(venv)],
                   check=True)
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(["cmake", "-S", str(REPO), "-B", str(tmp_path / "build"), f"-DGUI_BASE_DIR={gui_base_dir()}"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "Engine skipped: pybind11 2.12+ not found" in result.stdout and "pip install pybind11" in result.stdout
    assert "GUI plugin skipped" not in result.stdout and (tmp_path / "build" / "cpp" / "plugin").is_dir()
