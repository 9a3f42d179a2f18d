import os
import re

from ..findings import FAIL, OK, WARN, Finding

ID = "dll-conflicts"
TITLE = "Duplicate runtimes"
OPENMP = re.compile(r"^(lib)?iomp5(md)?\.(dll|so|dylib)$", re.IGNORECASE)
VC_RUNTIME = re.compile(r"^(msvcp140|vcruntime140)(_\w+)?\.dll$", re.IGNORECASE)


def _files_named(context, pattern):
    """Runtimes lie in the env's library folders (conda) or inside packages (pip wheels), never in the stdlib."""
    root = context.python_home
    found = [path for path in context.package_files if pattern.match(os.path.basename(path))]
    for folder in (root, os.path.join(root, "lib"), os.path.join(root, "Library", "bin"), os.path.join(root, "DLLs")):
        try:
            found += [entry.path for entry in os.scandir(folder) if entry.is_file() and pattern.match(entry.name)]
        except OSError:
            pass
    return found


def check(context):
    openmp = _files_named(context, OPENMP)
    if len(openmp) > 1:
        return Finding(ID, FAIL, TITLE,
                       "%d copies of Intel's OpenMP runtime (%s): the second one loaded aborts the GUI with "
                       "'OMP: Error #15'" % (len(openmp), ", ".join(os.path.relpath(p, context.python_home)
                                                                    for p in openmp)),
                       "conda install -p %s --force-reinstall intel-openmp   (one OpenMP stack: conda's "
                       "packages, not pip wheels bundling their own)" % context.python_home)
    bundled = [path for path in _files_named(context, VC_RUNTIME)
               if os.path.dirname(path) != context.python_home and "Library" not in path]
    if context.env_platform == "windows" and bundled:
        return Finding(ID, WARN, TITLE,
                       "packages bundle their own VC++ runtime (%s); the copy the GUI already loaded wins, "
                       "and an older one crashes in msvcp140.dll" % ", ".join(
                           os.path.relpath(p, context.python_home) for p in bundled[:4]),
                       "install the latest Microsoft Visual C++ Redistributable (x64)")
    return Finding(ID, OK, TITLE, "one OpenMP runtime at most, no bundled VC++ runtime")
