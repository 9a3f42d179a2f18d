"""Finding conda frontends and envs, and reading what a Python Home is, on real folder layouts."""
import json
import os
import stat

import pytest

from oe_bootstrap import folders
from oe_bootstrap.conda import Discovery, find_envs, find_frontends, preferred_frontend, read_envs_dirs
from oe_bootstrap.pythonenv import CONDA, EMBEDDABLE, INSTALLATION, VENV, inspect_env


def make_conda_env(prefix, version="3.10.13", subdir="linux-64"):
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").write_text("==> 2026-11-01 <==\n")
    record = {"name": "python", "version": version, "build": "h955ad1f_0_cpython", "subdir": subdir,
              "files": ["bin/python%s" % version[:4]]}
    (prefix / "conda-meta" / ("python-%s-h955ad1f_0_cpython.json" % version)).write_text(json.dumps(record))
    short = ".".join(version.split(".")[:2])
    stdlib = prefix / "lib" / ("python" + short)
    (stdlib / "site-packages").mkdir(parents=True)
    (stdlib / "os.py").write_text("")
    (prefix / "bin").mkdir()
    (prefix / "bin" / ("python" + short)).write_text("")
    (prefix / "lib" / ("libpython%s.so.1.0" % short)).write_text("")
    return prefix


def make_executable(path, text="#!/bin/sh\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def discovery(home, **environ):
    return Discovery(folders.LINUX, {"PATH": "", **environ}, str(home))


def test_envs_from_every_source_each_once(tmp_path):
    home = tmp_path / "home"
    base = make_conda_env(home / "miniforge3")
    in_base = make_conda_env(base / "envs" / "oe-python-plugin")
    from_txt = make_conda_env(tmp_path / "projects" / "exp-env")
    from_condarc = make_conda_env(tmp_path / "lab envs" / "analysis")
    from_variable = make_conda_env(tmp_path / "shared-envs" / "spikes")
    (home / ".conda").mkdir()
    (home / ".conda" / "environments.txt").write_text("%s\n%s\n%s\n" % (base, in_base, from_txt))
    (home / ".condarc").write_text("channels:\n  - conda-forge\nenvs_dirs:\n  - '%s'  # lab\n  - ~/nowhere\n"
                                   % (tmp_path / "lab envs"))
    found = find_envs(discovery(home, CONDA_ENVS_PATH=str(tmp_path / "shared-envs")))
    by_prefix = {env.prefix: env for env in found}
    assert set(by_prefix) == {str(base), str(in_base), str(from_txt), str(from_condarc), str(from_variable)}
    assert by_prefix[str(base)].name == "base"
    assert by_prefix[str(in_base)].name == "oe-python-plugin"
    assert by_prefix[str(from_condarc)].source.endswith(".condarc")
    assert by_prefix[str(from_variable)].source == "CONDA_ENVS_PATH"


def test_a_venv_is_not_listed_as_a_conda_env(tmp_path):
    home = tmp_path / "home"
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (home / ".conda").mkdir(parents=True)
    (home / ".conda" / "environments.txt").write_text(str(venv) + "\n")
    assert find_envs(discovery(home)) == []


def test_condarc_lists_in_block_and_flow_form():
    assert read_envs_dirs("envs_dirs: [~/a, '/b c']\n") == ["~/a", "/b c"]
    assert read_envs_dirs("envs_path:\n  - /x   # comment\n\n  - \"/y\"\npkgs_dirs:\n  - /z\n") == ["/x", "/y"]
    assert read_envs_dirs("channels:\n  - defaults\n") == []


def test_frontends_from_variables_path_and_install_folders(tmp_path):
    home = tmp_path / "home"
    conda = make_executable(home / "miniconda3" / "condabin" / "conda")
    micromamba = make_executable(tmp_path / "tools" / "micromamba")
    mamba = make_executable(tmp_path / "bin" / "mamba")
    found = find_frontends(discovery(home, MAMBA_EXE=str(micromamba), PATH=str(tmp_path / "bin")))
    assert [(f.kind, f.path, f.source) for f in found] == [
        ("micromamba", str(micromamba), "MAMBA_EXE"), ("mamba", str(mamba), "PATH"),
        ("conda", str(conda), str(home / "miniconda3"))]
    assert preferred_frontend(found).kind == "mamba"


def test_windows_install_folders_include_all_users_installs():
    candidates = folders.conda_install_candidates(
        folders.WINDOWS, {"LOCALAPPDATA": r"C:\Users\zoë\AppData\Local", "ProgramData": r"C:\ProgramData"},
        r"C:\Users\zoë")
    assert r"C:\ProgramData\miniconda3" in candidates
    assert r"C:\Users\zoë\miniforge3" in candidates
    assert r"C:\Users\zoë\AppData\Local\Continuum\anaconda3" in candidates


def test_gui_saved_state_folder_follows_user_dirs_dirs_as_juce_does(tmp_path):
    """JUCE reads XDG_CONFIG_HOME from ~/.config/user-dirs.dirs (only if that folder exists)."""
    (tmp_path / ".config").mkdir()
    dirs = tmp_path / ".config" / "user-dirs.dirs"
    dirs.write_text('XDG_MUSIC_DIR="$HOME/Music"\nXDG_CONFIG_HOME="$HOME/cfg"\n')
    assert folders.gui_folders(folders.LINUX, {}, str(tmp_path)).saved_state == str(tmp_path / ".config" / "open-ephys")
    (tmp_path / "cfg").mkdir()
    assert folders.gui_folders(folders.LINUX, {}, str(tmp_path)).saved_state == str(tmp_path / "cfg" / "open-ephys")


@pytest.mark.parametrize("system, environ, home, expected", [
    (folders.LINUX, {}, "/home/a", "/home/a/.config/open-ephys"),
    (folders.LINUX, {"XDG_CONFIG_HOME": "/cfg"}, "/home/a", "/home/a/.config/open-ephys"),  # JUCE ignores it
    (folders.MACOS, {}, "/Users/a", "/Users/a/Library/Application Support/open-ephys"),
    (folders.WINDOWS, {"LOCALAPPDATA": r"C:\Users\a\AppData\Local"}, r"C:\Users\a",
     r"C:\Users\a\AppData\Local\Open Ephys"),
])
def test_gui_saved_state_folder_per_platform(system, environ, home, expected):
    gui = folders.gui_folders(system, environ, home)
    assert gui.saved_state == expected
    assert gui.plugins.endswith("plugins-api10") and gui.configs.endswith("configs-api10")
    assert gui.settings_file.startswith(gui.configs)


def test_gui_run_from_a_build_folder_keeps_state_beside_it():
    gui = folders.gui_folders(folders.LINUX, {}, "/home/a", gui_dir="/src/plugin-GUI/Build/Release")
    assert (gui.configs, gui.plugins, gui.shared) == (
        "/src/plugin-GUI/Build/Release", "/src/plugin-GUI/Build/Release/plugins", "/src/plugin-GUI/Build/Release/shared")
    windows = folders.gui_folders(folders.WINDOWS, {}, "C:\\u", gui_dir="D:\\plugin-GUI\\Build\\Release", api=9)
    assert windows.plugins == "D:\\plugin-GUI\\Build\\Release\\plugins"
    assert folders.gui_folders(folders.WINDOWS, {}, "C:\\u", gui_dir="D:\\oe", api=9).plugins == "D:\\oe\\plugins-api9"


def test_inspect_a_conda_env(tmp_path):
    env = inspect_env(str(make_conda_env(tmp_path / "env", subdir="linux-64")))
    assert (env.kind, env.layout, env.version, env.conda_subdir, env.problem) == (CONDA, "unix", "3.10.13",
                                                                                   "linux-64", None)
    assert env.libpython.endswith("lib/libpython3.10.so.1.0")
    assert env.site_packages == [str(tmp_path / "env" / "lib" / "python3.10" / "site-packages")]


def test_inspect_a_real_installation_and_a_real_venv(tmp_path):
    from pythons import pyenv_python

    python = pyenv_python("3.10")
    if python is None:
        pytest.skip("no pyenv Python 3.10 on this machine")
    prefix = os.path.dirname(os.path.dirname(python))
    installation = inspect_env(prefix)
    assert installation.kind == INSTALLATION and installation.version.startswith("3.10")
    assert installation.libpython and os.path.isfile(installation.libpython)
    import subprocess
    subprocess.run([python, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    venv = inspect_env(str(tmp_path / "venv"))
    assert (venv.kind, venv.base_prefix, venv.libpython, venv.problem) == (VENV, prefix, installation.libpython, None)


def test_a_venv_whose_base_is_gone_says_so(tmp_path):
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = %s/gone/bin\nversion = 3.10.13\n" % tmp_path)
    env = inspect_env(str(tmp_path / "venv"))
    assert env.kind == VENV and "is gone" in env.problem and "recreate" in env.problem


def test_embeddable_distribution_and_empty_folder(tmp_path):
    embed = tmp_path / "python-3.10.11-embed-amd64"
    embed.mkdir()
    for name in ("python.exe", "python310.dll", "python310.zip", "python310._pth"):
        (embed / name).write_text("")
    env = inspect_env(str(embed))
    assert env.kind == EMBEDDABLE and "embeddable" in env.problem
    empty = inspect_env(str(tmp_path))
    assert empty.kind is None and "no Python installation" in empty.problem


def test_user_site_rules():
    assert folders.user_site_dir("3.10", folders.WINDOWS, {"APPDATA": r"C:\Users\a\AppData\Roaming"}, r"C:\Users\a") \
        == r"C:\Users\a\AppData\Roaming\Python\Python310\site-packages"
    assert folders.user_site_dir("3.10", folders.LINUX, {}, "/home/a") == "/home/a/.local/lib/python3.10/site-packages"
    assert folders.user_site_dir("3.10", folders.MACOS, {}, "/Users/a", framework=True) \
        == "/Users/a/Library/Python/3.10/lib/python/site-packages"
    assert folders.user_site_dir("3.10", folders.LINUX, {"PYTHONUSERBASE": "/u"}, "/home/a") \
        == "/u/lib/python3.10/site-packages"
