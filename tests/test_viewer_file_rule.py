"""One rule for which viewer.json names a running live viewer, in two languages: the GUI plugin's
(cpp/common/viewer_file.cpp, shown in its status and editor) and oe_pyproc.live.viewer_url (`oe-pyproc
view --open`, `oe-pyproc run --view`) both run every case of tests/data/viewer_file_cases.json."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from oe_pyproc.live import running_viewer, viewer_file, viewer_url
from support import build_helper

HERE = Path(__file__).parent
REPO = HERE.parent
CASES = json.loads((HERE / "data" / "viewer_file_cases.json").read_text(encoding="utf-8"))["cases"]


def content(case: dict) -> bytes:
    return bytes.fromhex(case["content_hex"]) if "content_hex" in case else case["content"].encode("utf-8")


@pytest.fixture(scope="module")
def cpp_rule(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("viewer_file")
    return build_helper(folder / "viewer_url_check",
                        [REPO / "cpp" / "common" / "viewer_file.cpp", REPO / "cpp" / "common" / "json.cpp",
                         HERE / "viewer_file" / "viewer_url_check.cpp"],
                        "the plugin's viewer.json rule", includes=[REPO / "cpp" / "common"])


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_both_languages_find_the_same_viewer(cpp_rule, tmp_path, case):
    path = tmp_path / "viewer.json"
    path.write_bytes(content(case))
    shown = subprocess.run([str(cpp_rule), str(path)] + [str(pid) for pid in case["alive"]],
                           capture_output=True, check=True)
    assert viewer_url(content(case), alive=lambda pid: pid in case["alive"]) == case["expected"]
    assert (shown.stdout.decode("utf-8") or None) == case["expected"]


def test_a_viewer_file_of_this_process_names_a_running_viewer(tmp_path, monkeypatch):
    """running_viewer reads the live folder's viewer.json through the same rule, with real processes."""
    monkeypatch.setenv("OE_PYPROC_LIVE_DIR", str(tmp_path))
    assert running_viewer() is None
    ended = subprocess.Popen(["true"])
    ended.wait()
    viewer_file().write_text(json.dumps({"pid": ended.pid, "url": "http://127.0.0.1:1/"}))
    assert running_viewer() is None
    viewer_file().write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:1/"}))
    assert running_viewer() == "http://127.0.0.1:1/"
