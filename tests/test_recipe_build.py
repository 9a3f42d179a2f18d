"""The recipe built and tested the way conda-build would, offline, then packed, indexed and installed.

1. A host env is solved and installed with py-rattler from the recipe's own host requirements
   (rendered for linux-64), out of a local channel of stand-in packages (tests/conda_channel.py:
   this machine's CPython 3.10 and the Python distributions of the env running the tests).
2. meta.yaml's build/script runs in a copy of the sources with conda-build's variables (PREFIX,
   PYTHON, SRC_DIR, RECIPE_DIR, CPU_COUNT, CMAKE_ARGS, SP_DIR, ...); the new files in the prefix
   are the package. The recipe's own test section (imports and commands, read from the rendered
   meta.yaml) then runs against that prefix, once the run and test requirements joined it (conda-build
   tests in an env that has them).
3. The new files become a real .conda (assemble_package) whose depends are the rendered run
   requirements plus the host packages' run_exports; it is indexed into the same channel and
   installed with its test requirements into a new env, named as `oe-pyproc setup` looks for it.
   With the build prefix moved away, that env passes the same test commands and setup finds it.

What differs from conda-build: the compilers, cmake and ninja are this machine's (no build env is
solved: the build requirements name conda's compiler packages); the GUI's source (meta.yaml's second
source) is the GUI's headers that gui_session.gui_base_dir() names (GUI_BASE_DIR, or the prebuilt GUI
beside the project); where there is none, the plugin and the recipe's test commands for it are left
out, and the tests say so.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import pytest

rattler_build = pytest.importorskip("rattler_build", reason="py-rattler-build packs the .conda")
pytest.importorskip("rattler", reason="py-rattler indexes and installs the channel")
pytest.importorskip("conda_package_handling", reason="registers the build prefix in the .conda")

import conda_channel  # noqa: E402
from package_layout import package_layout, plugin_layout  # noqa: E402
from pythons import pyenv_python  # noqa: E402
from recipe_render import HOST_RUN_EXPORTS, render  # noqa: E402
from gui_session import gui_base_dir  # noqa: E402

from oe_bootstrap.pythonenv import CONDA, inspect_env  # noqa: E402

REPOSITORY = Path(__file__).resolve().parents[1]
SUBDIR = "linux-64"
ENV_NAME = "oe-python-plugin"
GUI_SOURCE = gui_base_dir()  # the GUI's headers (GUI_BASE_DIR, or the prebuilt GUI beside us): the second source
PLUGIN_COMMAND_MARK = "plugin-api10"


@dataclass
class Built:
    prefix: Path
    src_dir: Path
    new_files: List[str]
    seconds: float
    plugin_expected: bool


@pytest.fixture(scope="session")
def recipe():
    return render(REPOSITORY / "meta.yaml", SUBDIR, REPOSITORY / "recipe" / "conda_build_config.yaml")


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("conda")


@pytest.fixture(scope="session")
def channel(recipe, workspace) -> Path:
    python = pyenv_python(conda_channel.PY_VER)
    if sys.platform != "linux" or python is None or not conda_channel.this_python_matches(python.parents[1]):
        pytest.skip("the stand-in channel needs Linux x86_64, tests running on Python 3.10 and a pyenv 3.10 "
                    "install with its shared libpython")
    wanted = [spec.split()[0] for spec in recipe.requirements("host") + recipe.requirements("run")
              + list(recipe.meta["test"].get("requires") or [])]
    distributions = [name for name in wanted if name not in ("python", "python_abi")]
    channel = workspace / "channel"
    try:
        conda_channel.standin_channel(channel, python.parents[1], distributions, workspace / "standin-scratch")
    except importlib.metadata.PackageNotFoundError as error:
        pytest.skip(f"the stand-in for {error} is made from this env, which lacks it: pip install '.[test]'")
    conda_channel.index(channel)
    return channel


def source_files() -> List[str]:
    """What a clone of the repository holds, with this checkout's uncommitted changes (conda-build's `path: .`)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPOSITORY,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("the sources are copied as git lists them: this is not a git checkout")
    return [path for path in listed.stdout.split("\0") if path]


def conda_build_environ(recipe, prefix: Path, src_dir: Path) -> Dict[str, str]:
    """The variables conda-build sets for build/script (the subset the scripts and CMake read)."""
    site = prefix / "lib" / f"python{conda_channel.PY_VER}" / "site-packages"
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("CONDA", "PYTHON", "PIP_", "VIRTUAL_ENV", "CMAKE"))}
    environ.update(
        PREFIX=str(prefix), BUILD_PREFIX=str(prefix), PYTHON=str(prefix / "bin" / "python"), SRC_DIR=str(src_dir),
        RECIPE_DIR=str(src_dir), CPU_COUNT="2", SP_DIR=str(site), PY_VER=conda_channel.PY_VER,
        PKG_NAME=recipe.meta["package"]["name"], PKG_VERSION=str(recipe.meta["package"]["version"]),
        PKG_BUILDNUM=str(recipe.meta["build"]["number"]), target_platform=SUBDIR, build_platform=SUBDIR,
        CMAKE_ARGS=f"-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX={prefix} -DCMAKE_INSTALL_LIBDIR=lib "
                   f"-DCMAKE_PROGRAM_PATH={prefix}/bin",
        PATH=os.pathsep.join([str(prefix / "bin"), os.environ.get("PATH", "/usr/bin:/bin")]),
        # conda-build's pip settings: nothing downloaded, nothing from the user's site.
        PIP_NO_INDEX="1", PIP_NO_DEPENDENCIES="1", PIP_IGNORE_INSTALLED="1", PYTHONNOUSERSITE="1",
        PIP_CACHE_DIR=str(src_dir.parent / "pip-cache"), PYTHONDONTWRITEBYTECODE="1")
    return environ


@pytest.fixture(scope="session")
def built(recipe, channel, workspace) -> Built:
    # This machine's tools stand in for the build requirements; the compilers are conda's c++ wrappers.
    tools = ["c++" if role.startswith("compiler") else role for role in recipe.requirement_roles("build")
             if not role.startswith("stdlib")]
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the build requirements {', '.join(missing)} are not installed (Debian: cmake ninja-build g++)")
    prefix = workspace / "host_env_placehold_placehold_placehold"
    conda_channel.install_env(channel, recipe.requirements("host"), prefix, workspace / "pkgs")
    before = set(conda_channel.tree_files(prefix))
    src_dir = workspace / "work"
    conda_channel.copy_sources(REPOSITORY, src_dir, source_files())
    if GUI_SOURCE:  # as the second source unpacks: the checkout without its build output
        shutil.copytree(GUI_SOURCE, src_dir / "plugin-GUI", symlinks=True,
                        ignore=lambda folder, names: ["Build"] if Path(folder) == Path(GUI_SOURCE) else [])
    started = time.monotonic()
    done = subprocess.run(["nice", "bash", "-c", recipe.script], cwd=src_dir,
                          env=conda_build_environ(recipe, prefix, src_dir), capture_output=True, text=True,
                          timeout=1800)
    seconds = time.monotonic() - started
    (workspace / "build.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, f"build/script failed after {seconds:.0f} s:\n{(done.stdout + done.stderr)[-6000:]}"
    new_files = sorted(set(conda_channel.tree_files(prefix)) - before)
    return Built(prefix, src_dir, new_files, seconds, bool(GUI_SOURCE))


def run_recipe_tests(recipe, prefix: Path, workdir: Path, plugin_expected: bool) -> subprocess.CompletedProcess:
    """meta.yaml's test section as conda-build's run_test.sh runs it: imports, then each command, `set -ex`."""
    test = recipe.meta["test"]
    workdir.mkdir(parents=True)
    for relative in test.get("files") or []:
        (workdir / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPOSITORY / relative, workdir / relative)
    commands = [f'python -c "import {module}"' for module in test.get("imports") or []]
    commands += [command for command in recipe.test_commands
                 if plugin_expected or PLUGIN_COMMAND_MARK not in command]
    (workdir / "run_test.sh").write_text("set -ex\n" + "\n".join(commands) + "\n")
    home = workdir / "home"  # no GUI has run as this user, and no conda of the user's is seen
    home.mkdir()
    environ = {"PATH": f"{prefix / 'bin'}:/usr/bin:/bin", "PREFIX": str(prefix), "CONDA_PREFIX": str(prefix),
               "HOME": str(home), "LANG": "C.UTF-8"}
    return subprocess.run(["bash", str(workdir / "run_test.sh")], cwd=workdir, env=environ, capture_output=True,
                          text=True, timeout=600)


def test_build_script_installs_the_documented_layout(built):
    wanted = dict(package_layout(SUBDIR), **(plugin_layout(SUBDIR) if built.plugin_expected else {}))
    missing = {role: path for role, path in wanted.items() if path not in built.new_files}
    assert not missing, f"build/script did not install {missing}"
    site = "lib/python3.10/site-packages/"
    packages = {path[len(site):].split("/")[0] for path in built.new_files if path.startswith(site)}
    assert {"oe_pyproc", "oe_pyprocessor", "oe_bootstrap"} <= packages
    assert "bin/oe-pyproc" in built.new_files
    bundle = [path for path in built.new_files if "plugin-api10" in path]
    assert bool(bundle) == built.plugin_expected, bundle
    print(f"build/script: {built.seconds:.0f} s, {len(built.new_files)} new files")


def test_recipe_tests_pass_in_the_build_prefix(recipe, channel, built, workspace):
    test_requires = list(recipe.meta["test"].get("requires") or [])
    specs = recipe.requirements("host") + recipe.run_requirements(HOST_RUN_EXPORTS) + test_requires
    conda_channel.install_env(channel, specs, built.prefix, workspace / "pkgs")
    done = run_recipe_tests(recipe, built.prefix, workspace / "test-build-prefix", built.plugin_expected)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert f"oe-pyproc {recipe.meta['package']['version']}\n" in done.stdout
    summary = json.loads(done.stdout[done.stdout.rfind("\n{") + 1:])  # pyproc-host --json, the last command
    assert [instance["state"] for instance in summary["instances"]] == ["ready"]
    assert summary["instances"][0]["calls"] > 0
    if not built.plugin_expected:
        skipped = [command for command in recipe.test_commands if PLUGIN_COMMAND_MARK in command]
        assert len(skipped) == 2, skipped  # the plugin and its engine, only: nothing else was left out


@pytest.fixture(scope="session")
def package(recipe, built, channel, workspace) -> Path:
    """The new files of the build prefix as oe-python-processor's .conda, indexed into the channel."""
    about = recipe.meta["about"]
    files = [rattler_build.FileEntry.from_paths(built.prefix / path, path) for path in built.new_files]
    files = conda_channel.mark_installed_by_conda(files, workspace / "package-scratch")
    started = time.monotonic()
    package = conda_channel.pack(
        channel, recipe.meta["package"]["name"], str(recipe.meta["package"]["version"]), recipe.build_string, files,
        recipe.run_requirements(HOST_RUN_EXPORTS), prefix=str(built.prefix), homepage=about["home"],
        license=about["license"], license_family=about.get("license_family"), summary=about["summary"],
        license_files=[REPOSITORY / about["license_file"]])
    conda_channel.index(channel)
    print(f"packed and indexed in {time.monotonic() - started:.1f} s: {package.name}")
    return package


@pytest.fixture(scope="session")
def installed_env(recipe, package, channel, workspace) -> Path:
    """The package and its test requirements installed by rattler into <envs>/oe-python-plugin."""
    prefix = workspace / "envs" / ENV_NAME
    started = time.monotonic()
    installed = conda_channel.install_env(
        channel, [recipe.meta["package"]["name"], *(recipe.meta["test"].get("requires") or [])], prefix,
        workspace / "pkgs")
    print(f"solved and installed in {time.monotonic() - started:.1f} s: {len(installed)} packages")
    assert f"oe-python-processor={recipe.meta['package']['version']}={recipe.build_string}" in installed
    return prefix


class BuildPrefixMovedAway:
    """Nothing installed may lean on the build prefix: it is renamed while the installed env is used."""

    def __init__(self, built: Built):
        self.prefix, self.aside = built.prefix, built.prefix.with_name(built.prefix.name + ".aside")

    def __enter__(self):
        self.prefix.rename(self.aside)

    def __exit__(self, *exc):
        self.aside.rename(self.prefix)


def test_package_carries_the_rendered_metadata(recipe, built, package, tmp_path):
    from conda_package_handling.api import extract
    from rattler.package import AboutJson, IndexJson, PathsJson

    extract(str(package), str(tmp_path))
    index = IndexJson.from_package_directory(tmp_path)
    assert (index.name.normalized, str(index.version), str(index.build), index.subdir) == (
        "oe-python-processor", str(recipe.meta["package"]["version"]), recipe.build_string, SUBDIR)
    assert list(index.depends) == recipe.run_requirements(HOST_RUN_EXPORTS)
    assert AboutJson.from_package_directory(tmp_path).license == recipe.meta["about"]["license"]
    assert (tmp_path / "info" / "licenses" / "LICENSE").read_bytes() == (REPOSITORY / "LICENSE").read_bytes()
    paths = {str(entry.relative_path): entry for entry in PathsJson.from_package_directory(tmp_path).paths}
    assert sorted(paths) == built.new_files
    placeholders = {path for path, entry in paths.items() if entry.prefix_placeholder is not None}
    assert "bin/oe-pyproc" in placeholders  # pip's launcher names the build prefix's python
    for path in set(built.new_files) - placeholders:
        assert str(built.prefix).encode() not in (tmp_path / path).read_bytes(), \
            f"{path} holds the build prefix where no install can rewrite it"
    installers = [path for path in paths if path.endswith(".dist-info/INSTALLER")]
    assert installers and all((tmp_path / path).read_text().strip() == "conda" for path in installers)


def test_installed_env_passes_the_recipe_tests(recipe, built, installed_env, workspace):
    with BuildPrefixMovedAway(built):
        done = run_recipe_tests(recipe, installed_env, workspace / "test-installed-env", built.plugin_expected)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    launcher = (installed_env / "bin" / "oe-pyproc").read_text()
    assert str(installed_env / "bin" / "python") in launcher and str(built.prefix) not in launcher, launcher[:300]


def test_setup_finds_the_installed_env_as_the_conda_env(built, installed_env, workspace):
    env = inspect_env(str(installed_env))
    assert (env.kind, env.conda_subdir, env.problem) == (CONDA, SUBDIR, None)
    meta = installed_env / "conda-meta"
    records = [json.loads(path.read_text()) for path in meta.glob("oe-python-processor-*.json")]
    assert len(records) == 1 and package_layout(SUBDIR)["engine"] in records[0]["files"]
    home, gui = workspace / "setup-home", workspace / "setup-gui"
    home.mkdir()
    environ = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
               "CONDA_ENVS_PATH": str(installed_env.parent)}
    with BuildPrefixMovedAway(built):
        done = subprocess.run([str(installed_env / "bin" / "oe-pyproc"), "setup", "--gui-dir", str(gui),
                               "--port", "9"], capture_output=True, text=True, env=environ, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"found conda env {ENV_NAME} at {installed_env}" in " ".join(done.stdout.split())
    settings = json.loads((gui / "configs-api10" / "python-processor.json").read_text())
    assert settings["python_home"] == str(installed_env)
    plugin = plugin_layout(SUBDIR)["plugin"].rsplit("/", 1)[1]
    assert (gui / "plugins-api10" / plugin).exists() == built.plugin_expected
