import glob
import os

from ..findings import OK, WARN, Finding

ID = "pth-files"
TITLE = ".pth files"


def pth_kind(name, lines):
    if name.startswith("__editable__") or name.endswith(".egg-link") or name == "easy-install.pth":
        return "editable"
    if name.startswith("pywin32"):
        return "pywin32"
    if name.endswith("-nspkg.pth"):
        return "namespace"
    if any(line.startswith("import ") for line in lines):
        return "import hook"
    return "path"


def missing_paths(site_packages, lines):
    """Path lines that name no folder: an editable install whose project moved, say."""
    paths = [line for line in lines if line and not line.startswith(("#", "import ", "import\t"))]
    return [path for path in paths if not os.path.exists(os.path.join(site_packages, path))]


def check(context):
    kinds, broken = {}, []
    for site in context.env.site_packages:
        for path in sorted(glob.glob(os.path.join(glob.escape(site), "*.pth"))):
            with open(path, encoding="utf-8", errors="replace") as stream:
                lines = [line.strip() for line in stream]
            kind = pth_kind(os.path.basename(path), lines)
            kinds[kind] = kinds.get(kind, 0) + 1
            broken += ["%s -> %s" % (os.path.basename(path), missing) for missing in missing_paths(site, lines)]
    if broken:
        return Finding(ID, WARN, TITLE, "paths named in .pth files do not exist: %s" % "; ".join(broken),
                       "reinstall the editable project from its new folder (pip install -e <folder>) or delete "
                       "the stale .pth file")
    summary = ", ".join("%d %s" % (count, kind) for kind, count in sorted(kinds.items())) or "none"
    return Finding(ID, OK, TITLE, "%s; the engine honours them (PyConfig home, site enabled)" % summary)
