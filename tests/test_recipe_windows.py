"""recipe/bld.bat, which only Windows runs: every step stops the build when it fails, and it installs
what recipe/build.sh installs.

build.sh is run for real with a PYTHON that records how it is called; bld.bat is read statement by
statement as cmd.exe would run it (set, if [not] exist ... goto, goto, echo, commands), with %VAR%
expanded from conda-build's variables. The two pip invocations must agree on everything but the
paths each OS uses, and those paths must be where `oe-pyproc setup` looks on that OS.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Set

from package_layout import plugin_bundle

from oe_bootstrap.setup_home import plugin_bundle_in_env

REPOSITORY = Path(__file__).resolve().parents[1]
BUILD_SH = REPOSITORY / "recipe" / "build.sh"
BLD_BAT = REPOSITORY / "recipe" / "bld.bat"
GUI_HEADER = "plugin-GUI/Plugins/Headers/ProcessorHeaders.h"
STOP_ON_ERROR = "if errorlevel 1 exit 1"
NOT_A_STEP = re.compile(r"^(@?echo\b|set\b|if\b|goto\b|:|rem\b)", re.IGNORECASE)


def batch_lines(text: str) -> List[str]:
    """Statements, without blank lines and comments (`::` and `rem`)."""
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("::") and not line.lower().startswith("rem ")]


def steps_without_error_check(text: str) -> List[str]:
    """Every command bld.bat runs must be followed by `if errorlevel 1 exit 1` (conda-forge's rule)."""
    lines = batch_lines(text)
    return [line for index, line in enumerate(lines) if not NOT_A_STEP.match(line)
            and (index + 1 == len(lines) or lines[index + 1].lower() != STOP_ON_ERROR)]


def cmd_arguments(line: str) -> List[str]:
    """How a Windows program splits its command line here: on blanks, quotes group and are dropped."""
    return [token.replace('"', "") for token in re.findall(r'(?:[^\s"]|"[^"]*")+', line)]


@dataclass
class BatchRun:
    """bld.bat run by the rules of cmd.exe for the statements it uses, on a pretend file system."""

    environ: Dict[str, str]
    existing: Set[str]  # paths (as bld.bat spells them after expansion) that exist
    commands: List[List[str]] = field(default_factory=list)
    echoed: List[str] = field(default_factory=list)

    def expand(self, text: str) -> str:
        return re.sub(r"%(\w+)%", lambda match: self.environ.get(match.group(1), ""), text)

    def run(self, text: str) -> "BatchRun":
        lines = batch_lines(text)
        labels = {line[1:].lower(): index for index, line in enumerate(lines) if line.startswith(":")}
        index = 0
        while index < len(lines):
            line = self.expand(lines[index])
            index += 1
            lowered = line.lower()
            if lowered.startswith(("@echo ", ":")) or lowered == STOP_ON_ERROR:
                continue
            if lowered.startswith("set "):
                assignment = line[4:].strip()
                if assignment.startswith('"'):  # set "NAME=value": the quotes only delimit
                    assignment = assignment[1:assignment.rindex('"')]
                name, _, value = assignment.partition("=")
                self.environ[name] = value
            elif lowered.startswith("echo "):
                self.echoed.append(line[5:])
            elif lowered.startswith("goto "):
                index = labels[line[5:].strip().lower()]
            elif match := re.match(r'if (not )?exist "([^"]+)" goto (\w+)$', line, re.IGNORECASE):
                if (match.group(2) in self.existing) != bool(match.group(1)):
                    index = labels[match.group(3).lower()]
            elif lowered.startswith("if "):
                raise AssertionError(f"bld.bat: a statement this reading does not know: {line}")
            else:
                self.commands.append(cmd_arguments(line))
        return self


@dataclass
class PipInstall:
    """One `python -m pip install` of the recipe, with its paths written relative to PREFIX and SRC_DIR."""

    arguments: List[str]
    settings: Dict[str, str]
    generator: str


def pip_install(argv: List[str], generator: str, prefix: str, src_dir: str) -> PipInstall:
    def relative(value: str) -> str:
        value = value.replace("\\", "/")
        for root, name in ((src_dir, "<SRC_DIR>"), (prefix, "<PREFIX>")):
            value = value.replace(root.replace("\\", "/"), name)
        return value

    assert argv[1:4] == ["-m", "pip", "install"], argv
    settings = dict(argument.split("=", 2)[1:] for argument in argv if argument.startswith("--config-settings="))
    others = [argument for argument in argv[4:] if not argument.startswith("--config-settings=")]
    return PipInstall(others, {key: relative(value) for key, value in settings.items()}, generator)


def build_sh(tmp_path: Path, with_gui: bool):
    """build.sh run by bash, as conda-build runs it, with a PYTHON that records its arguments."""
    prefix, src_dir = tmp_path / "prefix", tmp_path / "src"
    prefix.mkdir()
    src_dir.mkdir()
    if with_gui:
        (src_dir / GUI_HEADER).parent.mkdir(parents=True)
        (src_dir / GUI_HEADER).write_text("")
    record = tmp_path / "python-calls.jsonl"
    recorder = tmp_path / "python"
    recorder.write_text(f"#!{sys.executable}\nimport json, os, sys\nwith open({str(record)!r}, 'a') as log:\n"
                        "    log.write(json.dumps([sys.argv, os.environ.get('CMAKE_GENERATOR')]) + '\\n')\n")
    recorder.chmod(0o755)
    environ = dict(os.environ, PREFIX=str(prefix), PYTHON=str(recorder), SRC_DIR=str(src_dir), CPU_COUNT="2",
                   CMAKE_ARGS="")
    done = subprocess.run(["bash", str(BUILD_SH)], cwd=src_dir, env=environ, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == 1, calls
    argv, generator = calls[0]
    return pip_install(argv, generator, str(prefix), str(src_dir)), done.stderr


def bld_bat(with_gui: bool):
    prefix, src_dir = "C:\\bld\\_h_env", "C:\\bld\\work"
    environ = {"PREFIX": prefix, "LIBRARY_PREFIX": prefix + "\\Library", "PYTHON": prefix + "\\python.exe",
               "SRC_DIR": src_dir, "CPU_COUNT": "2"}
    existing = {src_dir + "\\" + GUI_HEADER.replace("/", "\\")} if with_gui else set()
    run = BatchRun(environ, existing).run(BLD_BAT.read_text())
    pips = [command for command in run.commands if command[0] == environ["PYTHON"]]
    assert len(pips) == 1, run.commands
    return run, pip_install(pips[0], run.environ.get("CMAKE_GENERATOR"), prefix, src_dir)


def test_every_step_of_bld_bat_stops_the_build_when_it_fails():
    text = BLD_BAT.read_text()
    assert steps_without_error_check(text) == []
    assert len(BatchRun({}, set()).run(text).commands) >= 1
    broken = text.replace("--target open-ephys\nif errorlevel 1 exit 1", "--target open-ephys", 1)
    assert broken != text
    assert steps_without_error_check(broken) == ['cmake --build "%GUI_SOURCE%\\Build" --target open-ephys']


def test_bld_bat_has_windows_line_ends():
    assert BLD_BAT.read_bytes().count(b"\r\n") == BLD_BAT.read_bytes().count(b"\n")


def test_both_scripts_install_the_same_files_where_setup_looks(tmp_path):
    unix, _ = build_sh(tmp_path, with_gui=True)
    run, windows = bld_bat(with_gui=True)
    assert unix.arguments == windows.arguments == [".", "--no-deps", "--no-build-isolation", "-vv"]
    assert unix.generator == windows.generator == "Ninja"
    assert windows.settings.pop("cmake.define.PYPROC_GUI_IMPORT_LIB") == "<SRC_DIR>/plugin-GUI/Build/open-ephys.lib"
    for settings, subdir in ((unix.settings, "linux-64"), (windows.settings, "win-64")):
        bundle = settings.pop("cmake.define.PYPROC_PLUGIN_BUNDLE_DIR")
        assert bundle == f"<PREFIX>/{plugin_bundle(subdir)}"
        env = tmp_path / subdir
        (env / plugin_bundle(subdir) / "plugins").mkdir(parents=True)
        assert plugin_bundle_in_env(str(env)) == str(env / plugin_bundle(subdir)), f"setup misses {bundle}"
    assert unix.settings == windows.settings
    assert unix.settings["cmake.define.GUI_BASE_DIR"] == "<SRC_DIR>/plugin-GUI"
    # The import library comes from building the GUI's own executable target first, in its Build folder.
    cmake = [command for command in run.commands if command[0] == "cmake"]
    assert cmake[0][:5] == ["cmake", "-S", "C:\\bld\\work\\plugin-GUI", "-B", "C:\\bld\\work\\plugin-GUI\\Build"]
    assert cmake[1][:3] == ["cmake", "--build", "C:\\bld\\work\\plugin-GUI\\Build"] and cmake[1][-2:] == [
        "--target", "open-ephys"]


def test_without_the_gui_source_neither_script_builds_the_plugin(tmp_path):
    unix, unix_log = build_sh(tmp_path, with_gui=False)
    run, windows = bld_bat(with_gui=False)
    assert unix.settings == windows.settings == {"build-dir": "build/conda", "cmake.build-type": "Release"}
    assert [command[0] for command in run.commands] == [run.environ["PYTHON"]]
    assert "building without the GUI plugin" in unix_log and "building without the GUI plugin" in run.echoed[0]
