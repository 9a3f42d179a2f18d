"""Installing the plugin into the GUI's folders as the GUI's Plugin Installer does (oe_bootstrap.plugins)."""
import json
import os
import re
import stat
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from oe_bootstrap import __version__
from oe_bootstrap.folders import gui_folders
from oe_bootstrap.plugins import (
    MANIFEST_NAME, PluginInstallError, install_plugin, installed_plugin, plugin_zip_entries_ok, plugin_zip_problem,
    uninstall_plugin,
)

OTHER_PLUGIN = ("NeuropixelsPXI", "0.5.2-API10", "neuropixels-pxi.so")
OTHER_REGISTRY = ('<?xml version="1.0" encoding="UTF-8"?>\n\n<PluginInstaller gui_version="1.0.1">\n'
                  '  <InstalledPlugins>\n    <NeuropixelsPXI version="0.5.2-API10" dllName="neuropixels-pxi.so"/>\n'
                  '  </InstalledPlugins>\n</PluginInstaller>\n')


def write_zip(path, entries):
    """entries: (name, data) in order; data None makes a folder entry; ("link", target) a symbolic link."""
    with zipfile.ZipFile(str(path), "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name)
            if data is None:
                info.external_attr = (stat.S_IFDIR | 0o755) << 16
                archive.writestr(info, b"")
            elif isinstance(data, tuple):
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, data[1])
            else:
                info.external_attr = (stat.S_IFREG | 0o755) << 16
                archive.writestr(info, data)
    return path


def linux_zip(folder, version="0.1.0", extra=(), name=None):
    entries = [("plugins/", None), ("plugins/PythonProcessor.so", b"plugin " + version.encode()),
               ("shared/", None), ("shared/python-processor/", None),
               ("shared/python-processor/engine_cp310.so", b"engine " + version.encode())] + list(extra)
    return write_zip(Path(folder) / (name or "PythonProcessor-linux_%s-API10.zip" % version), entries)


def windows_zip(folder, version="0.1.0", separator="\\"):
    entries = [("plugins%sPythonProcessor.dll" % separator, b"dll " + version.encode()),
               ("shared%spython-processor%sengine_cp310.dll" % (separator, separator), b"engine")]
    return write_zip(Path(folder) / ("PythonProcessor-windows_%s-API10.zip" % version), entries)


@pytest.fixture
def folders(tmp_path):
    """A saved-state folder that already holds another plugin, installed by the GUI."""
    result = gui_folders(system="Linux", environ={}, home=str(tmp_path), gui_dir=str(tmp_path / "open-ephys"))
    os.makedirs(result.plugins)
    os.makedirs(result.shared)
    Path(result.plugins, OTHER_PLUGIN[2]).write_bytes(b"other plugin")
    Path(result.shared, "libOpenEphysHDF5.so").write_bytes(b"other shared")
    Path(result.installed_plugins_file).write_text(OTHER_REGISTRY)
    return result


def snapshot(folders):
    """Every file under the saved-state folder with its contents, but our backups and the registry."""
    files = {}
    for directory, _, names in os.walk(folders.saved_state):
        for name in names:
            path = os.path.join(directory, name)
            if not name.endswith(".bak") and path != folders.installed_plugins_file:
                files[os.path.relpath(path, folders.saved_state)] = Path(path).read_bytes()
        if not names and directory != folders.saved_state:
            files[os.path.relpath(directory, folders.saved_state) + "/"] = None
    return files


def registry(folders):
    root = ET.parse(folders.installed_plugins_file).getroot()
    assert root.tag == "PluginInstaller"
    return {entry.tag: list(entry.attrib.items()) for entry in root[0]}


def test_linux_install_copies_plugins_and_shared_and_records_the_plugin(folders, tmp_path):
    result = install_plugin(folders, str(linux_zip(tmp_path)), "Linux")
    assert Path(folders.plugins, "PythonProcessor.so").read_bytes() == b"plugin 0.1.0"
    assert Path(folders.shared, "python-processor", "engine_cp310.so").read_bytes() == b"engine 0.1.0"
    assert registry(folders) == {
        OTHER_PLUGIN[0]: [("version", OTHER_PLUGIN[1]), ("dllName", OTHER_PLUGIN[2])],
        "PythonProcessor": [("version", "0.1.0-API10"), ("dllName", "PythonProcessor.so")],  # read by position
    }
    assert result.plugin_path == os.path.join(folders.plugins, "PythonProcessor.so")
    assert result.previous_version is None and result.removed == []
    assert Path(result.registry_backup).read_text() == OTHER_REGISTRY
    assert installed_plugin(folders) == ("PythonProcessor", "0.1.0-API10", "PythonProcessor.so",
                                         result.plugin_path, True, 10)


def test_manifest_lists_exactly_what_was_installed(folders, tmp_path):
    install_plugin(folders, str(linux_zip(tmp_path)), "Linux")
    manifest = json.loads(Path(folders.plugins, MANIFEST_NAME).read_text())
    assert manifest["files"] == {"plugins": ["PythonProcessor.so"], "shared": ["python-processor/engine_cp310.so"]}
    assert manifest["folders"] == {"plugins": [], "shared": ["python-processor"]}
    assert manifest["version"] == "0.1.0-API10" and manifest["written_by"] == "oe-pyproc %s" % __version__


def test_windows_rules_take_the_plugin_from_entry_0(folders, tmp_path):
    install_plugin(folders, str(windows_zip(tmp_path)), "Windows")
    assert registry(folders)["PythonProcessor"] == [("version", "0.1.0-API10"), ("dllName", "PythonProcessor.dll")]
    assert Path(folders.plugins, "PythonProcessor.dll").read_bytes() == b"dll 0.1.0"
    assert Path(folders.shared, "python-processor", "engine_cp310.dll").exists()


def test_windows_zip_with_forward_slashes_is_refused(folders, tmp_path):
    """The GUI cuts the name at the first '\\' on Windows: 'plugins/X.dll' would be looked for in plugins/plugins."""
    bundle = windows_zip(tmp_path, separator="/")
    assert not plugin_zip_entries_ok(str(bundle), "Windows")
    with pytest.raises(PluginInstallError, match=re.escape("store it as 'plugins\\PythonProcessor.dll'")):
        install_plugin(folders, str(bundle), "Windows")


@pytest.mark.parametrize("entries, message", [
    ([("plugins/PythonProcessor.so", b"x"), ("plugins/", None)], "entry 0 is 'plugins/PythonProcessor.so'"),
    ([("plugins/", None), ("shared/libengine.so", b"x"), ("plugins/PythonProcessor.so", b"x")], "entry 1 is"),
    ([("plugins/", None)], "has 1 entries"),
])
def test_zip_in_the_wrong_order_is_refused_before_anything_is_written(folders, tmp_path, entries, message):
    bundle = write_zip(tmp_path / "PythonProcessor-linux_0.1.0-API10.zip", entries)
    before = snapshot(folders)
    with pytest.raises(PluginInstallError, match=message):
        install_plugin(folders, str(bundle), "Linux")
    assert snapshot(folders) == before and Path(folders.installed_plugins_file).read_text() == OTHER_REGISTRY


def test_zip_rules_per_system(tmp_path):
    assert plugin_zip_entries_ok(str(linux_zip(tmp_path)), "Linux")
    assert not plugin_zip_entries_ok(str(linux_zip(tmp_path)), "Windows")
    assert plugin_zip_entries_ok(str(windows_zip(tmp_path)), "Windows")
    mac = write_zip(tmp_path / "mac.zip", [("plugins/", None), ("plugins/PythonProcessor.bundle/", None),
                                           ("plugins/PythonProcessor.bundle/Contents/MacOS/PythonProcessor", b"x")])
    assert plugin_zip_entries_ok(str(mac), "Darwin")
    assert "not a readable zip" in plugin_zip_problem(str(tmp_path / "missing.zip"), "Linux")


def test_upgrade_replaces_files_and_removes_what_the_new_version_dropped(folders, tmp_path):
    old_extra = [("shared/python-processor/old_helper.so", b"old")]
    install_plugin(folders, str(linux_zip(tmp_path, "0.1.0", old_extra)), "Linux")
    result = install_plugin(folders, str(linux_zip(tmp_path, "0.2.0")), "Linux")
    assert result.previous_version == "0.1.0-API10"
    assert result.removed == [os.path.join(folders.shared, "python-processor", "old_helper.so")]
    assert not Path(result.removed[0]).exists()
    assert Path(folders.plugins, "PythonProcessor.so").read_bytes() == b"plugin 0.2.0"
    assert registry(folders)["PythonProcessor"] == [("version", "0.2.0-API10"), ("dllName", "PythonProcessor.so")]


def test_reinstalling_the_same_version_repairs_a_deleted_file(folders, tmp_path):
    bundle = str(linux_zip(tmp_path))
    install_plugin(folders, bundle, "Linux")
    os.remove(os.path.join(folders.shared, "python-processor", "engine_cp310.so"))
    install_plugin(folders, bundle, "Linux")
    assert Path(folders.shared, "python-processor", "engine_cp310.so").exists()
    assert list(registry(folders)) == [OTHER_PLUGIN[0], "PythonProcessor"]


def test_uninstall_restores_the_previous_state(folders, tmp_path):
    before = snapshot(folders)
    install_plugin(folders, str(linux_zip(tmp_path, "0.1.0", [("shared/python-processor/lib/x.so", b"x")])), "Linux")
    install_plugin(folders, str(linux_zip(tmp_path, "0.2.0")), "Linux")
    result = uninstall_plugin(folders)
    assert snapshot(folders) == before
    assert registry(folders) == {OTHER_PLUGIN[0]: [("version", OTHER_PLUGIN[1]), ("dllName", OTHER_PLUGIN[2])]}
    assert result.entry_removed and result.missing == [] and len(result.removed) == 2
    assert installed_plugin(folders) is None


def test_uninstall_keeps_a_shared_file_that_was_there_before(folders, tmp_path):
    bundle = linux_zip(tmp_path, extra=[("shared/libOpenEphysHDF5.so", b"ours")])
    install_plugin(folders, str(bundle), "Linux")
    assert Path(folders.shared, "libOpenEphysHDF5.so").read_bytes() == b"ours"  # overwritten, as the GUI does
    uninstall_plugin(folders)
    assert Path(folders.shared, "libOpenEphysHDF5.so").exists()


def test_uninstall_of_a_plugin_the_gui_installed_removes_its_file_and_entry(folders):
    Path(folders.plugins, "PythonProcessor.so").write_bytes(b"published plugin")
    Path(folders.installed_plugins_file).write_text(OTHER_REGISTRY.replace(
        "  </InstalledPlugins>", '    <PythonProcessor version="0.1.2-API10" dllName="PythonProcessor.so"/>\n'
                                 "  </InstalledPlugins>"))
    assert installed_plugin(folders).version == "0.1.2-API10"
    result = uninstall_plugin(folders)
    assert result.removed == [os.path.join(folders.plugins, "PythonProcessor.so")]
    assert list(registry(folders)) == [OTHER_PLUGIN[0]]


def test_macos_bundle_installed_by_the_gui_is_replaced_whole(folders, tmp_path):
    old_bundle = Path(folders.plugins, "PythonProcessor.bundle", "Contents", "MacOS")
    old_bundle.mkdir(parents=True)
    (old_bundle / "PythonProcessor").write_bytes(b"published")
    (old_bundle / "stale.dylib").write_bytes(b"old")
    Path(folders.installed_plugins_file).write_text(OTHER_REGISTRY.replace(
        "  </InstalledPlugins>", '    <PythonProcessor version="0.1.2-API10" dllName="PythonProcessor.bundle/"/>\n'
                                 "  </InstalledPlugins>"))
    mac = write_zip(tmp_path / "PythonProcessor-mac_0.2.0-API10.zip", [
        ("plugins/", None), ("plugins/PythonProcessor.bundle/", None),
        ("plugins/PythonProcessor.bundle/Contents/", None), ("plugins/PythonProcessor.bundle/Contents/MacOS/", None),
        ("plugins/PythonProcessor.bundle/Contents/MacOS/PythonProcessor", b"new")])
    result = install_plugin(folders, str(mac), "Darwin")
    assert (old_bundle / "PythonProcessor").read_bytes() == b"new" and not (old_bundle / "stale.dylib").exists()
    assert result.previous_version == "0.1.2-API10" and installed_plugin(folders).exists
    assert registry(folders)["PythonProcessor"] == [("version", "0.2.0-API10"), ("dllName", "PythonProcessor.bundle")]
    uninstall_plugin(folders)
    assert not Path(folders.plugins, "PythonProcessor.bundle").exists()


def test_uninstall_with_nothing_installed_changes_nothing(folders):
    before = snapshot(folders)
    result = uninstall_plugin(folders)
    assert (result.removed, result.entry_removed, result.registry_backup) == ([], False, None)
    assert snapshot(folders) == before and Path(folders.installed_plugins_file).read_text() == OTHER_REGISTRY


def test_gui_running_refuses_install_and_uninstall(folders, tmp_path):
    before = snapshot(folders)
    with pytest.raises(PluginInstallError, match="GUI is running; close it first"):
        install_plugin(folders, str(linux_zip(tmp_path)), "Linux", gui_running=True)
    with pytest.raises(PluginInstallError, match="GUI is running"):
        uninstall_plugin(folders, gui_running=True)
    assert snapshot(folders) == before


def test_registry_is_created_when_missing(tmp_path):
    folders = gui_folders(system="Linux", environ={}, home=str(tmp_path), gui_dir=str(tmp_path / "fresh état"))
    install_plugin(folders, str(linux_zip(tmp_path)), "Linux")
    root = ET.parse(folders.installed_plugins_file).getroot()
    assert root.tag == "PluginInstaller" and root[0].tag == "InstalledPlugins"
    assert root[0][0].attrib == {"version": "0.1.0-API10", "dllName": "PythonProcessor.so"}


def test_malformed_registry_is_refused_and_untouched(folders, tmp_path):
    Path(folders.installed_plugins_file).write_text("<PluginInstaller><InstalledPlugins>")
    with pytest.raises(PluginInstallError, match="installedPlugins.xml is not valid XML"):
        install_plugin(folders, str(linux_zip(tmp_path)), "Linux")
    assert Path(folders.installed_plugins_file).read_text() == "<PluginInstaller><InstalledPlugins>"
    assert not Path(folders.plugins, "PythonProcessor.so").exists()


def test_zip_for_another_api_or_os_is_refused(folders, tmp_path):
    api9 = linux_zip(tmp_path, name="PythonProcessor-linux_0.1.0-API9.zip")
    with pytest.raises(PluginInstallError, match="built for Plugin API 9"):
        install_plugin(folders, str(api9), "Linux")
    mac = linux_zip(tmp_path, name="PythonProcessor-mac_0.1.0-API10.zip")
    with pytest.raises(PluginInstallError, match="made for mac"):
        install_plugin(folders, str(mac), "Linux")


def test_zip_reaching_outside_its_folders_is_refused(folders, tmp_path):
    bundle = linux_zip(tmp_path, extra=[("shared/../../../escaped.so", b"x")])
    with pytest.raises(PluginInstallError, match="outside its own folders"):
        install_plugin(folders, str(bundle), "Linux")
    assert not (tmp_path / "escaped.so").exists()


def test_zip_writing_through_its_own_link_is_refused_before_anything_is_written(folders, tmp_path):
    bundle = linux_zip(tmp_path, extra=[("shared/out", ("link", str(tmp_path))), ("shared/out/escaped.so", b"x")])
    before = snapshot(folders)
    with pytest.raises(PluginInstallError, match="below one of its own symbolic links"):
        install_plugin(folders, str(bundle), "Linux")
    assert snapshot(folders) == before and not (tmp_path / "escaped.so").exists()


def test_renamed_zip_takes_the_given_version(folders, tmp_path):
    bundle = linux_zip(tmp_path, name="PythonProcessor (1).zip")
    assert install_plugin(folders, str(bundle), "Linux", version="0.3.0").version == "0.3.0-API10"


def test_folder_bundle_with_a_symbolic_link(folders, tmp_path):
    bundle = tmp_path / "conda bundle données"
    (bundle / "plugins").mkdir(parents=True)
    (bundle / "shared" / "python-processor").mkdir(parents=True)
    (bundle / "plugins" / "PythonProcessor.so").write_bytes(b"plugin")
    (bundle / "shared" / "python-processor" / "libengine.so.1").write_bytes(b"engine")
    os.symlink("libengine.so.1", str(bundle / "shared" / "python-processor" / "libengine.so"))
    result = install_plugin(folders, str(bundle), "Linux")
    link = Path(folders.shared, "python-processor", "libengine.so")
    assert link.is_symlink() and os.readlink(str(link)) == "libengine.so.1" and link.read_bytes() == b"engine"
    assert result.version == "%s-API10" % __version__
    uninstalled = uninstall_plugin(folders)
    assert not os.path.lexists(str(link)) and len(uninstalled.removed) == 3


def test_folder_bundle_without_exactly_one_plugin_is_refused(folders, tmp_path):
    bundle = tmp_path / "bundle"
    (bundle / "plugins").mkdir(parents=True)
    with pytest.raises(PluginInstallError, match="exactly one Linux plugin"):
        install_plugin(folders, str(bundle), "Linux")
