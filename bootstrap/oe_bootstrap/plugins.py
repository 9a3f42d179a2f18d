"""Installs the plugin into the GUI's folders the way the GUI's Plugin Installer does, and removes it again.

A bundle is a Plugin Installer zip (``PythonProcessor-<os>_<version>-API10.zip``) or a folder with the
same ``plugins/`` and ``shared/`` layout. What we installed is listed in
``<plugins>/PythonProcessor.manifest.json`` so that uninstalling removes exactly that.
"""
import datetime
import json
import os
import re
import shutil
import stat
import xml.etree.ElementTree as ET
import zipfile
from typing import Callable, List, NamedTuple, Optional, Set, Tuple

from . import __version__
from .atomic import write_atomic
from .folders import LINUX, MACOS, WINDOWS, GuiFolders

INSTALLER_NAME = "PythonProcessor"  # the plugin's name in the Plugin Installer and installedPlugins.xml
MANIFEST_NAME = INSTALLER_NAME + ".manifest.json"
AREAS = ("plugins", "shared")  # the bundle folders the GUI copies, to the plugins and shared folders
PLUGIN_SUFFIX = {WINDOWS: ".dll", LINUX: ".so", MACOS: ".bundle"}
ZIP_OS = {WINDOWS: "windows", LINUX: "linux", MACOS: "mac"}
ZIP_NAME = re.compile(r"^(?P<name>[A-Za-z0-9]+)-(?P<os>[a-z]+)_(?P<version>[^/\\]+?-API\d+)\.zip$")
API_IN_VERSION = re.compile(r"-API(\d+)$", re.IGNORECASE)
API_IN_FOLDER = re.compile(r"plugins-api(\d+)$")
UNKNOWN_GUI_VERSION = "unknown"  # the GUI rewrites gui_version whenever its installer opens


class PluginInstallError(Exception):
    """An install or uninstall we refuse, with the reason and the way out in words."""


class InstalledPlugin(NamedTuple):
    name: str
    version: str  # as the Plugin Installer writes it, e.g. "0.1.0-API10"
    dll_name: str
    dll_path: str
    exists: bool
    api: Optional[int]


class InstallResult(NamedTuple):
    plugin_path: str
    version: str
    files: List[str]  # every file and link written
    previous_version: Optional[str]
    removed: List[str]  # files of the previous installation that the new one no longer has
    registry_backup: Optional[str]


class UninstallResult(NamedTuple):
    removed: List[str]
    missing: List[str]  # listed as installed but already gone
    entry_removed: bool
    registry_backup: Optional[str]


class _Member(NamedTuple):
    """One file, folder or symbolic link of a bundle, below ``plugins/`` or ``shared/``."""

    area: str
    relative: str  # "/"-separated, inside the area
    kind: str  # "file", "dir" or "link"
    read: Callable[[], bytes]  # the contents, or a link's target
    mode: Optional[int]


class _Bundle(NamedTuple):
    members: List[_Member]
    dll_name: str
    version: Optional[str]  # from the zip's name


# ---------------------------------------------------------------- zip rules

def plugin_zip_entries_ok(zip_path: str, system: str) -> bool:
    return plugin_zip_problem(zip_path, system) is None


def plugin_zip_problem(zip_path: str, system: str) -> Optional[str]:
    """Why the GUI's Plugin Installer would mis-install this zip on ``system``, or None.

    The installer takes the plugin's file name from entry 0 (Windows) or entry 1 (elsewhere, entry 0
    being the ``plugins/`` folder) and drops everything up to the first path separator of that OS.
    """
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = [info.orig_filename for info in archive.infolist()]
    except (OSError, zipfile.BadZipFile) as error:
        return "%s is not a readable zip file (%s)" % (zip_path, error)
    index = 0 if system == WINDOWS else 1
    if len(names) <= index:
        return "%s has %d entries; the Plugin Installer reads the plugin from entry %d" % (zip_path, len(names), index)
    if system != WINDOWS and names[0] != "plugins/":
        return ("%s: entry 0 is %r, not the 'plugins/' folder; on %s the Plugin Installer reads the plugin's "
                "file name from entry 1, so entry 0 must be 'plugins/'" % (zip_path, names[0], system))
    return _plugin_entry_problem(zip_path, names[index], index, system)


def _plugin_entry_problem(zip_path: str, name: str, index: int, system: str) -> Optional[str]:
    suffix = PLUGIN_SUFFIX[system]
    parts = [part for part in re.split(r"[/\\]", name) if part]
    if len(parts) != 2 or parts[0] != "plugins" or not parts[1].endswith(suffix):
        return ("%s: entry %d is %r; on %s the Plugin Installer expects the plugin itself there, "
                "'plugins/<name>%s'" % (zip_path, index, name, system, suffix))
    if system == WINDOWS and not name.startswith("plugins\\"):
        # JUCE keeps zip names as stored and the installer cuts at the first "\" on Windows.
        return ("%s: entry 0 is %r; on Windows the Plugin Installer cuts the name at the first '\\', so it would "
                "look for the plugin at '%s' inside the plugins folder and fail to load it; store it as 'plugins\\%s'"
                % (zip_path, name, name, parts[1]))
    return None


# ---------------------------------------------------------------- install

def install_plugin(folders: GuiFolders, bundle: str, system: Optional[str] = None, gui_running: bool = False,
                   version: Optional[str] = None) -> InstallResult:
    """Copy the bundle's ``plugins/`` and ``shared/`` into the GUI's folders and record the plugin.

    ``system`` selects the zip rule and plugin suffix (default: the folders' OS). ``version`` defaults
    to the one in the zip's name, else this package's, as "<version>-API<api>".
    """
    if gui_running:
        raise PluginInstallError("the Open Ephys GUI is running; close it first (it holds the plugin it "
                                 "loaded, and on Windows the file is locked), then install again")
    system = system or folders.system
    source = _open_bundle(bundle, system)
    version = _checked_version(version or source.version, folders.api, bundle)
    # every check that reads the user's files comes before the first write
    registry = _read_registry(folders.installed_plugins_file)
    manifest = _read_manifest(folders)
    entry = _registry_entry(registry)
    previous_version = entry.get("version") if entry is not None else None
    written, removed = _replace_files(folders, source, version, _owned_files(manifest, entry), manifest)
    _set_registry_entry(registry, version, source.dll_name)
    backup = _write_registry(folders.installed_plugins_file, registry)
    return InstallResult(_target(folders, ("plugins", source.dll_name)), version,
                         [_target(folders, item) for item in written], previous_version, removed, backup)


def _replace_files(folders: GuiFolders, source: "_Bundle", version: str, owned: Set[Tuple[str, str]],
                   manifest: Optional[dict]) -> Tuple[List[Tuple[str, str]], List[str]]:
    """Copy the bundle, remove what the previous installation had and this one lacks, write the manifest."""
    kept = _foreign_shared_files(source.members, folders, owned | _manifest_items(manifest, "kept"))
    # A plugin folder (a macOS bundle the GUI's installer recorded) is replaced whole, as the GUI does.
    replaced = {item for item in owned if _is_folder(_target(folders, item))}
    _remove_files(folders, replaced)
    written, created = _copy_members(source.members, folders)
    removed = _remove_files(folders, owned - replaced - set(written))[0]
    ours = {item for item in _manifest_folders(manifest) | created if os.path.isdir(_target(folders, item))}
    _write_manifest(folders, version, source.dll_name, [item for item in written if item not in kept], kept, ours)
    return written, removed


def _checked_version(version: Optional[str], api: int, bundle: str) -> str:
    version = version or __version__
    match = API_IN_VERSION.search(version)
    if match is None:
        return "%s-API%d" % (version, api)
    if int(match.group(1)) != api:
        raise PluginInstallError("%s is built for Plugin API %s, but this GUI loads API %d plugins; use the "
                                 "bundle made for API %d" % (bundle, match.group(1), api, api))
    return version


def _open_bundle(bundle: str, system: str) -> _Bundle:
    if os.path.isdir(bundle):
        members = _folder_members(bundle)
        opened = _Bundle(members, _folder_dll_name(bundle, members, system), None)
    else:
        problem = plugin_zip_problem(bundle, system)
        if problem:
            raise PluginInstallError(problem)
        opened = _Bundle(_zip_members(bundle), _zip_dll_name(bundle, system), _zip_version(bundle, system))
    _check_no_path_through_links(bundle, opened.members)
    return opened


def _check_no_path_through_links(bundle: str, members: List[_Member]) -> None:
    # a file written below one of the bundle's own links could land anywhere the link points
    links = {(m.area, m.relative + "/") for m in members if m.kind == "link"}
    for member in members:
        if any(member.area == area and member.relative.startswith(prefix) for area, prefix in links):
            raise PluginInstallError("%s puts %s/%s below one of its own symbolic links; it is not a plugin "
                                     "bundle we will install" % (bundle, member.area, member.relative))


def _zip_version(zip_path: str, system: str) -> Optional[str]:
    match = ZIP_NAME.match(os.path.basename(zip_path))
    if match is None:
        return None  # renamed by a browser or a user: the version comes from elsewhere
    if match.group("name") != INSTALLER_NAME:
        raise PluginInstallError("%s is the %s plugin, not %s" % (zip_path, match.group("name"), INSTALLER_NAME))
    if match.group("os") != ZIP_OS[system]:
        raise PluginInstallError("%s is made for %s, this is %s (%s); use the %s zip"
                                 % (zip_path, match.group("os"), ZIP_OS[system], system, ZIP_OS[system]))
    return match.group("version")


def _zip_dll_name(zip_path: str, system: str) -> str:
    with zipfile.ZipFile(zip_path) as archive:
        name = archive.infolist()[0 if system == WINDOWS else 1].orig_filename
    return re.split(r"[/\\]", name, maxsplit=1)[1].strip("/\\")


def _zip_members(zip_path: str) -> List[_Member]:
    members = []
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            parts = _safe_parts(info.orig_filename, zip_path)
            if len(parts) < 2 or parts[0] not in AREAS:
                continue  # the installer copies only the plugins and shared folders
            unix_mode = info.external_attr >> 16
            if info.orig_filename.endswith(("/", "\\")):
                kind = "dir"
            else:
                kind = "link" if stat.S_ISLNK(unix_mode) else "file"
            members.append(_Member(parts[0], "/".join(parts[1:]), kind, _zip_reader(zip_path, info),
                                   stat.S_IMODE(unix_mode) or None))
    return members


def _zip_reader(zip_path: str, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        with zipfile.ZipFile(zip_path) as archive:
            return archive.read(info)
    return read


def _safe_parts(name: str, bundle: str) -> List[str]:
    parts = [part for part in re.split(r"[/\\]", name) if part not in ("", ".")]
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise PluginInstallError("%s holds %r, a path outside its own folders; it is not a plugin bundle we "
                                 "will install" % (bundle, name))
    return parts


def _folder_members(folder: str) -> List[_Member]:
    members = []
    for area in AREAS:
        top = os.path.join(folder, area)
        for directory, subfolders, files in os.walk(top):
            for name in sorted(subfolders) + sorted(files):
                path = os.path.join(directory, name)
                relative = os.path.relpath(path, top).replace(os.sep, "/")
                members.append(_folder_member(area, relative, path))
    return members


def _folder_member(area: str, relative: str, path: str) -> _Member:
    if os.path.islink(path):
        return _Member(area, relative, "link", lambda: os.readlink(path).encode("utf-8"), None)
    if os.path.isdir(path):
        return _Member(area, relative, "dir", lambda: b"", None)

    def read() -> bytes:
        with open(path, "rb") as stream:
            return stream.read()
    return _Member(area, relative, "file", read, stat.S_IMODE(os.stat(path).st_mode))


def _folder_dll_name(folder: str, members: List[_Member], system: str) -> str:
    suffix = PLUGIN_SUFFIX[system]
    candidates = [m.relative for m in members if m.area == "plugins" and "/" not in m.relative
                  and m.relative.endswith(suffix)]
    if len(candidates) != 1:
        raise PluginInstallError("%s/plugins should hold exactly one %s plugin (*%s), it holds %d"
                                 % (folder, system, suffix, len(candidates)))
    return candidates[0]


def _foreign_shared_files(members: List[_Member], folders: GuiFolders,
                         ours: Set[Tuple[str, str]]) -> Set[Tuple[str, str]]:
    """Shared files that were there before us: overwritten as the GUI does, but left in place on uninstall."""
    items = {(m.area, m.relative) for m in members if m.area == "shared" and m.kind != "dir"}
    return {item for item in items - ours if os.path.lexists(_target(folders, item))}


def _copy_members(members: List[_Member], folders: GuiFolders) -> Tuple[List[Tuple[str, str]], Set[Tuple[str, str]]]:
    """Write every member; returns the files and links written and the folders created, as (area, relative)."""
    written, created = [], set()
    for member in members:
        item = (member.area, member.relative)
        created |= _make_parents(folders, item, include_self=member.kind == "dir")
        if member.kind == "file":
            write_atomic(_target(folders, item), member.read(), backup=False, mode=member.mode)
        elif member.kind == "link":
            _write_link(_target(folders, item), member.read().decode("utf-8"))
        if member.kind != "dir":
            written.append(item)
    return written, created


def _make_parents(folders: GuiFolders, item: Tuple[str, str], include_self: bool) -> Set[Tuple[str, str]]:
    """Create the folders leading to ``item``; returns those that did not exist."""
    area, relative = item
    parts = relative.split("/")
    created = set()
    for depth in range(1, len(parts) + (1 if include_self else 0)):
        folder = (area, "/".join(parts[:depth]))
        path = _target(folders, folder)
        if not os.path.isdir(path):
            os.makedirs(path)
            created.add(folder)
    return created


def _write_link(path: str, target: str) -> None:
    if os.path.lexists(path):
        os.remove(path)
    os.symlink(target, path)


def _area_root(folders: GuiFolders, area: str) -> str:
    return folders.plugins if area == "plugins" else folders.shared


def _target(folders: GuiFolders, item: Tuple[str, str]) -> str:
    area, relative = item
    return os.path.join(_area_root(folders, area), *relative.split("/"))


# ---------------------------------------------------------------- manifest

def _manifest_path(folders: GuiFolders) -> str:
    return os.path.join(folders.plugins, MANIFEST_NAME)


def _read_manifest(folders: GuiFolders) -> Optional[dict]:
    path = _manifest_path(folders)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as stream:
            manifest = json.load(stream)
        manifest["files"], manifest["folders"]  # both must be there
        return manifest
    except (ValueError, KeyError, TypeError) as error:
        raise PluginInstallError("%s, the list of installed files, is damaged (%r); delete it and the plugin's "
                                 "files by hand, then install again" % (path, error)) from error


def _manifest_items(manifest: Optional[dict], key: str) -> Set[Tuple[str, str]]:
    if manifest is None:
        return set()
    return {(area, relative) for area in AREAS for relative in manifest.get(key, {}).get(area, [])}


def _manifest_folders(manifest: Optional[dict]) -> Set[Tuple[str, str]]:
    return _manifest_items(manifest, "folders")


def _owned_files(manifest: Optional[dict], entry: Optional[ET.Element]) -> Set[Tuple[str, str]]:
    """The files a previous installation put there: our manifest, or the plugin the GUI's installer recorded."""
    owned = _manifest_items(manifest, "files")
    if entry is not None and entry.get("dllName") and manifest is None:
        owned.add(("plugins", entry.get("dllName").strip("/\\")))
    return owned


def _write_manifest(folders: GuiFolders, version: str, dll_name: str, files: List[Tuple[str, str]],
                    kept: Set[Tuple[str, str]], created: Set[Tuple[str, str]]) -> None:
    manifest = {
        "plugin": INSTALLER_NAME,
        "version": version,
        "dll_name": dll_name,
        "files": {area: sorted(rel for a, rel in files if a == area) for area in AREAS},
        "kept": {area: sorted(rel for a, rel in kept if a == area) for area in AREAS},
        "folders": {area: sorted(rel for a, rel in created if a == area) for area in AREAS},
        "written_by": "oe-pyproc %s" % __version__,
        "installed_at": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    write_atomic(_manifest_path(folders), text.encode("utf-8"), backup=False)


# ---------------------------------------------------------------- installedPlugins.xml

def _read_registry(path: str) -> ET.Element:
    if not os.path.exists(path):
        root = ET.Element("PluginInstaller", {"gui_version": UNKNOWN_GUI_VERSION})
        ET.SubElement(root, "InstalledPlugins")
        return root
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise PluginInstallError("%s is not valid XML (%s); fix or delete it (the GUI's Plugin Installer "
                                 "recreates it), then try again" % (path, error)) from error
    if root.tag != "PluginInstaller":
        raise PluginInstallError("%s is not the Plugin Installer's list (root <%s>); fix or delete it, then "
                                 "try again" % (path, root.tag))
    if len(root) == 0:
        ET.SubElement(root, "InstalledPlugins")
    return root


def _registry_entry(registry: ET.Element) -> Optional[ET.Element]:
    # the GUI reads the plugin list from the first child, whatever its name
    return registry[0].find(INSTALLER_NAME)


def _set_registry_entry(registry: ET.Element, version: str, dll_name: str) -> None:
    entry = _registry_entry(registry)
    if entry is None:
        entry = ET.SubElement(registry[0], INSTALLER_NAME)
    others = [(key, value) for key, value in entry.attrib.items() if key not in ("version", "dllName")]
    entry.attrib.clear()
    # the GUI reads these two by position: attribute 0 is the version, attribute 1 the file name
    entry.attrib.update([("version", version), ("dllName", dll_name)] + others)


def _write_registry(path: str, registry: ET.Element) -> Optional[str]:
    _indent(registry)
    body = ET.tostring(registry, encoding="unicode")
    return write_atomic(path, ('<?xml version="1.0" encoding="UTF-8"?>\n\n' + body + "\n").encode("utf-8"))


def _indent(element: ET.Element, level: int = 0) -> None:
    """Two-space indentation as the GUI writes it (ElementTree.indent needs Python 3.9)."""
    inner = "\n" + "  " * (level + 1)
    if len(element):
        element.text = inner
        for child in element:
            _indent(child, level + 1)
            child.tail = inner
        element[-1].tail = "\n" + "  " * level
    else:
        element.text = None


# ---------------------------------------------------------------- installed plugin, uninstall

def installed_plugin(folders: GuiFolders) -> Optional[InstalledPlugin]:
    """The Python Processor recorded in installedPlugins.xml (or, failing that, in our manifest)."""
    path = folders.installed_plugins_file
    entry = _registry_entry(_read_registry(path)) if os.path.exists(path) else None
    manifest = _read_manifest(folders)
    if entry is not None:
        version, dll_name = entry.get("version", ""), entry.get("dllName", "").strip("/\\")
    elif manifest is not None:
        version, dll_name = manifest.get("version", ""), manifest.get("dll_name", "")
    else:
        return None
    dll_path = _target(folders, ("plugins", dll_name))
    return InstalledPlugin(INSTALLER_NAME, version, dll_name, dll_path, bool(dll_name) and os.path.exists(dll_path),
                           _api_of(version, folders.plugins))


def _api_of(version: str, plugins_folder: str) -> Optional[int]:
    match = API_IN_VERSION.search(version) or API_IN_FOLDER.search(os.path.basename(os.path.normpath(plugins_folder)))
    return int(match.group(1)) if match else None


def uninstall_plugin(folders: GuiFolders, gui_running: bool = False) -> UninstallResult:
    """Remove the files we installed (or the plugin file the GUI's installer recorded) and the XML entry."""
    if gui_running:
        raise PluginInstallError("the Open Ephys GUI is running; close it first, then uninstall again")
    path = folders.installed_plugins_file
    registry = _read_registry(path) if os.path.exists(path) else None
    entry = _registry_entry(registry) if registry is not None else None
    manifest = _read_manifest(folders)
    removed, missing = _remove_files(folders, _owned_files(manifest, entry))
    _remove_empty_folders(folders, _manifest_folders(manifest))
    backup = None
    if entry is not None:
        registry[0].remove(entry)
        backup = _write_registry(path, registry)
    if manifest is not None:
        os.remove(_manifest_path(folders))
    return UninstallResult(removed, missing, entry is not None, backup)


def _is_folder(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


def _remove_files(folders: GuiFolders, items: Set[Tuple[str, str]]) -> Tuple[List[str], List[str]]:
    removed, missing = [], []
    for item in sorted(items):
        path = _target(folders, item)
        if _is_folder(path):
            shutil.rmtree(path)  # a macOS .bundle recorded only by the GUI's installer
        elif os.path.lexists(path):
            os.remove(path)
        else:
            missing.append(path)
            continue
        removed.append(path)
    return removed, missing


def _remove_empty_folders(folders: GuiFolders, items: Set[Tuple[str, str]]) -> None:
    # deepest first, and only if empty: another plugin may have put files there since
    for item in sorted(items, key=lambda item: item[1].count("/"), reverse=True):
        path = _target(folders, item)
        if os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)

