import os

from ..findings import FAIL, OK, Finding
from ._windows import dll_folders, dll_names_in, is_system_dll

ID = "dll-dependencies"
TITLE = "Extension DLLs"


def unresolved_imports(context):
    """(extension, DLL) pairs that Windows would not find when the plugin imports the extension."""
    known = dll_names_in(dll_folders(context))
    missing = []
    for info in context.extension_binaries:
        if info.format != "PE":
            continue
        beside = dll_names_in([os.path.dirname(info.path)])
        for name in info.imports:
            lower = name.lower()
            if lower not in known and lower not in beside and not is_system_dll(lower):
                missing.append((os.path.relpath(info.path, context.python_home), name))
    return missing


def check(context):
    if context.env_platform != "windows":
        return Finding(ID, OK, TITLE, "not a Windows env")
    missing = unresolved_imports(context)
    if not missing:
        count = sum(1 for info in context.extension_binaries if info.format == "PE")
        return Finding(ID, OK, TITLE, "every DLL imported by %d extensions is found" % count)
    listed = "; ".join("%s needs %s" % pair for pair in missing[:8])
    more = " (and %d more)" % (len(missing) - 8) if len(missing) > 8 else ""
    return Finding(ID, FAIL, TITLE,
                   "%s%s, found nowhere the plugin searches (the extension's folder, the env root, "
                   "Library\\bin, DLLs, <package>.libs, the GUI's shared folder): 'DLL load failed'"
                   % (listed, more),
                   "conda install -p %s <the package that provides %s>   (pip wheels that need DLLs from "
                   "PATH do not load in the GUI)" % (context.python_home, missing[0][1]))
