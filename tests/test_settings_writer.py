"""The files setup rewrites: the plugin settings file and saved signal chains (oe_bootstrap.settings, .chains)."""
import datetime
import json
import os
import shutil
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from oe_bootstrap import __version__
from oe_bootstrap.atomic import WriteRefused, write_atomic
from oe_bootstrap.chains import ChainError, python_homes_in_chain, set_python_home_in_chain
from oe_bootstrap.folders import gui_folders
from oe_bootstrap.settings import SettingsError, read_settings, write_python_home

CHAINS = Path(__file__).parent / "data" / "chains"
NEW_HOME = "/home/zoë/miniforge3/envs/oe-python-plugin"
WINDOWS_HOME = "C:\\Users\\Zoë Martín\\miniforge3\\envs\\oe-python-plugin"


def make_read_only(path: Path) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def copy_chain(name: str, folder: Path, as_name: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (as_name or name)
    shutil.copyfile(CHAINS / name, target)
    return target


def expected_tree(original: bytes, python_home: str) -> bytes:
    """The original tree with every Python Processor's python_home set in place: all that may change."""
    root = parse_with_comments(original)
    for processor in root.iter("PROCESSOR"):
        if processor.get("pluginName") == "Python Processor":
            for child in processor:
                if "python_home" in child.attrib:
                    child.set("python_home", python_home)
    return ET.tostring(root)


def parse_with_comments(data: bytes) -> ET.Element:
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    parser.feed(data)
    return parser.close()


def canonical(data: bytes) -> str:
    return ET.canonicalize(ET.tostring(parse_with_comments(data)).decode("utf-8"), with_comments=True)


# ---------------------------------------------------------------- atomic writes

def test_write_atomic_refuses_a_file_without_write_bits_even_for_root(tmp_path):
    target = tmp_path / "locked.json"
    target.write_bytes(b"{}")
    make_read_only(target)
    with pytest.raises(WriteRefused, match="read-only"):
        write_atomic(str(target), b'{"a": 1}')
    assert target.read_bytes() == b"{}"
    assert not (tmp_path / "locked.json.bak").exists()


def test_write_atomic_gives_a_new_file_the_usual_permissions_and_keeps_an_existing_files(tmp_path):
    new = tmp_path / "new.txt"
    write_atomic(str(new), b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask
    new.chmod(0o640)
    write_atomic(str(new), b"y")
    assert stat.S_IMODE(new.stat().st_mode) == 0o640
    assert (tmp_path / "new.txt.bak").read_bytes() == b"x"


# ---------------------------------------------------------------- settings file

@pytest.fixture
def folders(tmp_path):
    return gui_folders(system="Linux", environ={}, home=str(tmp_path), gui_dir=str(tmp_path / "Open Ephys données"))


def test_write_python_home_creates_the_settings_file(folders):
    result = write_python_home(folders, NEW_HOME, "setup: conda env oe-python-plugin")
    settings = json.loads(Path(folders.settings_file).read_text(encoding="utf-8"))
    assert result.changed and result.backup is None and result.previous_python_home is None
    assert settings["python_home"] == NEW_HOME
    assert settings["python_home_source"] == "setup: conda env oe-python-plugin"
    assert settings["written_by"] == "oe-pyproc %s" % __version__
    assert datetime.datetime.fromisoformat(settings["written_at"]).tzinfo is not None
    assert read_settings(folders.settings_file) == settings


def test_write_python_home_keeps_unknown_keys_and_backs_up(folders):
    path = Path(folders.settings_file)
    path.parent.mkdir(parents=True)
    original = json.dumps({"python_home": "/old/env", "plot_theme": "dark", "recent": [1, 2]}).encode()
    path.write_bytes(original)
    result = write_python_home(folders, WINDOWS_HOME.replace("C:\\", "/"), "OE_PYTHON_HOME")
    settings = read_settings(str(path))
    assert settings["plot_theme"] == "dark" and settings["recent"] == [1, 2]
    assert result.previous_python_home == "/old/env"
    assert Path(result.backup).read_bytes() == original


def test_write_python_home_writes_nothing_when_already_recorded(folders):
    write_python_home(folders, NEW_HOME, "setup")
    before = Path(folders.settings_file).read_bytes()
    result = write_python_home(folders, NEW_HOME, "setup")
    assert not result.changed and result.backup is None
    assert Path(folders.settings_file).read_bytes() == before
    assert not Path(folders.settings_file + ".bak").exists()


@pytest.mark.parametrize("content", [b'{"python_home": "/x",', b"[1, 2]", b"\xff\xfe garbage"])
def test_malformed_settings_file_is_reported_and_never_overwritten(folders, content):
    path = Path(folders.settings_file)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(SettingsError, match=str(path)):
        write_python_home(folders, NEW_HOME, "setup")
    assert path.read_bytes() == content


def test_relative_python_home_is_refused(folders):
    with pytest.raises(ValueError, match="absolute"):
        write_python_home(folders, "envs/oe", "setup")
    assert not Path(folders.settings_file).exists()


def test_read_only_settings_file_is_refused(folders):
    path = Path(folders.settings_file)
    path.parent.mkdir(parents=True)
    path.write_text('{"python_home": "/old"}')
    make_read_only(path)
    with pytest.raises(WriteRefused):
        write_python_home(folders, NEW_HOME, "setup")
    assert read_settings(str(path)) == {"python_home": "/old"}


# ---------------------------------------------------------------- signal chains

@pytest.mark.parametrize("name, old_homes", [
    ("gui06_file_reader_python_record.xml", ["C:\\Users\\lab\\miniconda3\\envs\\oe-python-plugin"]),
    ("gui10_file_reader_python_record.xml", ["/home/lab/miniconda3/envs/oe-env"]),
    ("gui10_splitter_two_python.xml", ["/Users/lab/opt/anaconda3/envs/oe", ""]),
    ("gui10_headless_python.xml", ["/opt/conda/envs/oe-python-plugin"]),
])
def test_only_python_home_changes(tmp_path, name, old_homes):
    path = copy_chain(name, tmp_path)
    original = path.read_bytes()
    edit = set_python_home_in_chain(str(path), NEW_HOME)
    after = path.read_bytes()
    assert [change.old_python_home for change in edit.changes] == old_homes
    assert edit.python_processors == len(old_homes) == edit.changed
    assert ET.tostring(parse_with_comments(after)) == expected_tree(original, NEW_HOME)  # order and comments too
    assert canonical(after) == canonical(expected_tree(original, NEW_HOME))
    assert after.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert Path(edit.backup).read_bytes() == original
    assert [node.python_home for node in python_homes_in_chain(str(path))] == [NEW_HOME] * len(old_homes)


def test_comments_around_the_root_element_are_kept(tmp_path):
    path = copy_chain("gui10_splitter_two_python.xml", tmp_path)
    path.write_bytes(path.read_bytes() + b"<!-- trailer -->\n")
    set_python_home_in_chain(str(path), NEW_HOME)
    text = path.read_text(encoding="utf-8")
    assert "<!-- Rig 2 chain: filtered branch to disk" in text.split("<SETTINGS>")[0]
    assert text.endswith("</SETTINGS>\n<!-- trailer -->\n")
    assert "<!-- spike-band filter, keep in sync with the analysis notebook -->" in text


def test_python_homes_in_chain_lists_every_node(tmp_path):
    nodes = python_homes_in_chain(str(CHAINS / "gui10_splitter_two_python.xml"))
    assert [(n.node_id, n.python_home, n.script_path) for n in nodes] == [
        (102, "/Users/lab/opt/anaconda3/envs/oe", "/Users/lab/scripts/filter.py"), (104, "", "")]
    gui06 = python_homes_in_chain(str(CHAINS / "gui06_file_reader_python_record.xml"))
    assert gui06[0].script_path == "C:\\Users\\lab\\Documents\\Open Ephys\\scripts\\threshold_detector.py"


def test_nothing_is_written_when_the_value_is_already_there(tmp_path):
    path = copy_chain("gui10_headless_python.xml", tmp_path)
    before = path.read_bytes()
    edit = set_python_home_in_chain(str(path), "/opt/conda/envs/oe-python-plugin")
    assert edit.python_processors == 1 and edit.changed == 0 and edit.backup is None
    assert path.read_bytes() == before
    assert not Path(str(path) + ".bak").exists()


def test_nothing_is_written_without_a_python_processor(tmp_path):
    path = tmp_path / "lastConfig.xml"
    path.write_bytes((CHAINS / "gui10_headless_python.xml").read_bytes()
                     .replace(b'"Python Processor"', b'"Bandpass Filter"'))
    before = path.read_bytes()
    edit = set_python_home_in_chain(str(path), NEW_HOME)
    assert (edit.python_processors, edit.changed, edit.backup) == (0, 0, None)
    assert path.read_bytes() == before


def test_a_node_matched_by_library_name_alone_is_changed(tmp_path):
    path = tmp_path / "renamed.xml"
    path.write_bytes((CHAINS / "gui10_headless_python.xml").read_bytes()
                     .replace(b'pluginName="Python Processor"', b'pluginName="PyProc (rig 2)"'))
    assert set_python_home_in_chain(str(path), NEW_HOME).changed == 1


def test_missing_attribute_is_added_to_the_existing_parameters_element(tmp_path):
    path = tmp_path / "chain.xml"
    path.write_bytes((CHAINS / "gui06_file_reader_python_record.xml").read_bytes()
                     .replace(b'python_home="C:\\Users\\lab\\miniconda3\\envs\\oe-python-plugin"', b""))
    edit = set_python_home_in_chain(str(path), WINDOWS_HOME)
    assert edit.changes[0].old_python_home is None
    processor = [p for p in ET.parse(str(path)).getroot().iter("PROCESSOR") if p.get("nodeId") == "101"][0]
    assert [child.tag for child in processor].count("GLOBAL_PARAMETERS") == 1
    assert list(processor.find("GLOBAL_PARAMETERS").attrib) == ["script_path", "python_home"]
    assert processor.find("GLOBAL_PARAMETERS").get("python_home") == WINDOWS_HOME


@pytest.mark.parametrize("name, element, tag", [
    ("gui10_file_reader_python_record.xml", b"PROCESSOR_PARAMETERS", "PROCESSOR_PARAMETERS"),
    ("gui06_file_reader_python_record.xml", b"GLOBAL_PARAMETERS", "GLOBAL_PARAMETERS"),
])
def test_missing_parameters_element_is_created_for_the_chains_api(tmp_path, name, element, tag):
    data = (CHAINS / name).read_bytes()
    start = data.index(b"<" + element + b" python_home")
    end = data.index(b"/>", start) + 2
    path = tmp_path / "chain.xml"
    path.write_bytes(data[:start] + data[end:])
    set_python_home_in_chain(str(path), NEW_HOME)
    processor = [p for p in ET.parse(str(path)).getroot().iter("PROCESSOR") if p.get("nodeId") == "101"][0]
    assert processor[0].tag == tag and processor[0].attrib == {"python_home": NEW_HOME}


def test_malformed_chain_names_file_line_and_column_and_is_untouched(tmp_path):
    path = tmp_path / "saved chains" / "broken.xml"
    path.parent.mkdir()
    data = (CHAINS / "gui10_file_reader_python_record.xml").read_bytes().replace(b"<CUSTOM_PARAMETERS/>", b"<CUSTOM", 1)
    path.write_bytes(data)
    with pytest.raises(ChainError) as caught:
        set_python_home_in_chain(str(path), NEW_HOME)
    bad_line = data[:data.index(b"<CUSTOM\n")].count(b"\n") + 1
    assert caught.value.line in (bad_line, bad_line + 1)  # expat reports where it gives up
    assert str(path) in str(caught.value) and "line %d, column" % caught.value.line in str(caught.value)
    assert path.read_bytes() == data
    assert os.listdir(str(path.parent)) == ["broken.xml"]


def test_file_that_is_not_a_chain_is_refused(tmp_path):
    path = tmp_path / "windowState.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n<MAINWINDOW><SIGNALCHAIN locked="0"/></MAINWINDOW>\n')
    with pytest.raises(ChainError, match="not an Open Ephys signal chain"):
        set_python_home_in_chain(str(path), NEW_HOME)


def test_read_only_chain_is_reported_and_untouched(tmp_path):
    path = copy_chain("gui10_file_reader_python_record.xml", tmp_path)
    before = path.read_bytes()
    make_read_only(path)
    with pytest.raises(WriteRefused, match="read-only"):
        set_python_home_in_chain(str(path), NEW_HOME)
    assert path.read_bytes() == before


def test_non_ascii_paths_and_values(tmp_path):
    path = copy_chain("gui10_splitter_two_python.xml", tmp_path / "Données expérience", "chaîne 1.xml")
    set_python_home_in_chain(str(path), NEW_HOME)
    assert NEW_HOME.encode("utf-8") in path.read_bytes()
    assert Path(str(path) + ".bak").exists()
    assert {node.python_home for node in python_homes_in_chain(str(path))} == {NEW_HOME}
    set_python_home_in_chain(str(path), WINDOWS_HOME)
    assert {node.python_home for node in python_homes_in_chain(str(path))} == {WINDOWS_HOME}


def test_last_and_recovery_config_stay_equivalent(tmp_path):
    """The GUI asks about a crash at start when their first SIGNALCHAIN differs, attribute order included."""
    folders = gui_folders(system="Linux", environ={}, home=str(tmp_path), gui_dir=str(tmp_path / "oe"))
    for chain in folders.chain_files():
        copy_chain("gui10_file_reader_python_record.xml", Path(folders.configs), os.path.basename(chain))
        set_python_home_in_chain(chain, NEW_HOME)
    last, recovery = [ET.tostring(ET.parse(chain).getroot().find("SIGNALCHAIN")) for chain in folders.chain_files()]
    assert last == recovery
