"""One rule for finding conda envs, in two languages: bootstrap/oe_bootstrap/conda.py (setup, doctor)
and cpp/common/conda_envs.cpp (the GUI plugin) both run every case of tests/data/conda_env_cases.json,
on real folders, and must give its expected envs in its order."""
from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

import pytest

from oe_bootstrap.conda import Discovery, find_envs, read_envs_dirs
from support import build_helper, make_machine

HERE = Path(__file__).parent
CASES = json.loads((HERE / "data" / "conda_env_cases.json").read_text())
REPO = HERE.parent
pytestmark = pytest.mark.skipif(platform.system() != "Linux", reason="the case table's paths are Linux paths")


@pytest.fixture(scope="module")
def cpp_rule(tmp_path_factory) -> Path:
    return build_helper(tmp_path_factory.mktemp("conda") / "find_envs_check",
                        [REPO / "cpp" / "common" / "conda_envs.cpp", HERE / "conda" / "find_envs_check.cpp"],
                        "the plugin's conda rule", includes=[REPO / "cpp" / "common"])


def expected(case: dict, root: Path) -> list:
    return [[name, prefix.replace("{root}", str(root)), source.replace("{root}", str(root))]
            for name, prefix, source in case["expected"]]


@pytest.mark.parametrize("case", CASES["search_cases"], ids=[case["name"] for case in CASES["search_cases"]])
def test_both_languages_find_the_same_envs(cpp_rule, tmp_path, case):
    root = tmp_path / "machine"
    environ = make_machine(case, root)
    python = [[env.name, os.path.normpath(env.prefix), env.source]
              for env in find_envs(Discovery("Linux", environ, str(root / "home")))]
    shown = subprocess.run([str(cpp_rule)], env=dict(environ, HOME=str(root / "home")), capture_output=True,
                           text=True, check=True)
    cpp = [[name, os.path.normpath(prefix), source] for name, prefix, source in json.loads(shown.stdout)]
    assert python == expected(case, root)
    assert cpp == expected(case, root)


@pytest.mark.parametrize("case", CASES["condarc_cases"], ids=[repr(case["text"][:30]) for case in CASES["condarc_cases"]])
def test_both_languages_read_envs_dirs_alike(cpp_rule, case):
    shown = subprocess.run([str(cpp_rule), "--condarc"], input=case["text"], capture_output=True, text=True, check=True)
    assert read_envs_dirs(case["text"]) == case["expected"]
    assert json.loads(shown.stdout) == case["expected"]
