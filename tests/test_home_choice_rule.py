"""One rule for which Python Home the plugin uses when its chain names none, in two languages: the GUI
plugin's (cpp/common/home_choice.cpp) and the doctor's prediction (oe_bootstrap.resolve) both run every
case of tests/data/home_choice_cases.json on real folders, and must name the same home from the same
source, and say alike when a settings file was passed over for its own fault."""
from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

import pytest

from oe_bootstrap.conda import Discovery
from oe_bootstrap.folders import gui_folders
from oe_bootstrap.resolve import resolve_python_home
from support import build_helper, make_machine

HERE = Path(__file__).parent
REPO = HERE.parent
CASES = json.loads((HERE / "data" / "home_choice_cases.json").read_text(encoding="utf-8"))["cases"]
pytestmark = pytest.mark.skipif(platform.system() != "Linux", reason="the case table's paths are Linux paths")


@pytest.fixture(scope="module")
def cpp_rule(tmp_path_factory) -> Path:
    common = REPO / "cpp" / "common"
    return build_helper(tmp_path_factory.mktemp("home_choice") / "choose_home_check",
                        [common / "home_choice.cpp", common / "conda_envs.cpp", common / "json.cpp",
                         HERE / "home_choice" / "choose_home_check.cpp"],
                        "the plugin's Python Home rule", includes=[common])


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_the_plugin_and_the_doctor_choose_the_same_home(cpp_rule, tmp_path, case):
    root = tmp_path / "machine"
    environ = make_machine(case, root)
    (root / case["saved_state"]).mkdir(parents=True, exist_ok=True)
    home, saved_state = str(root / "home"), str(root / case["saved_state"])
    expected_home = case["expected"][0] and os.path.normpath(case["expected"][0].replace("{root}", str(root)))
    python = resolve_python_home(gui_folders("Linux", environ, home, gui_dir=saved_state), environ,
                                 Discovery("Linux", environ, home))
    shown = subprocess.run([str(cpp_rule), saved_state], env=dict(environ, HOME=home), capture_output=True,
                           text=True, check=True)
    cpp_home, cpp_source, cpp_where, cpp_problem = json.loads(shown.stdout)
    assert [python.python_home and os.path.normpath(python.python_home), python.source] == [expected_home, case["expected"][1]]
    assert [cpp_home and os.path.normpath(cpp_home), cpp_source] == [expected_home, case["expected"][1]]
    # A settings file passed over for its own fault is named by both (the doctor's notes, the plugin's log and
    # status), and only then.
    assert bool(python.notes) == bool(cpp_problem) == case.get("settings_problem", False), (python.notes, cpp_problem)
    if cpp_problem:
        assert str(root / case["saved_state"]) in cpp_problem
    if "where" in case:
        assert python.where == cpp_where == str(root / case["where"])
