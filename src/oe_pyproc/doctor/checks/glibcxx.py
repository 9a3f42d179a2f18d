import os

from ..binaries import read_binary, version_key
from ..findings import FAIL, OK, Finding

ID = "glibcxx"
TITLE = "libstdc++ version"
SYSTEM_LIBSTDCXX = ["/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6",
                    "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
                    "/usr/lib/libstdc++.so.6"]


def system_libstdcxx_version():
    """The GLIBCXX version of the libstdc++ the GUI itself loads (the system's)."""
    for path in SYSTEM_LIBSTDCXX:
        if os.path.exists(path):
            info = read_binary(os.path.realpath(path))
            if info and info.glibcxx_provided:
                return path, info.glibcxx_provided
    return None, None


def highest_need(binaries):
    needs = [(info.glibcxx_needed, info.path) for info in binaries if info.glibcxx_needed]
    return max(needs, key=lambda pair: version_key(pair[0])) if needs else (None, None)


def check(context):
    if context.env_platform != "linux":
        return Finding(ID, OK, TITLE, "not a Linux env")
    needed, needer = highest_need(context.extension_binaries)
    if not needed:
        return Finding(ID, OK, TITLE, "no extension needs libstdc++")
    if not context.runs_here:
        return Finding(ID, OK, TITLE, "extensions need GLIBCXX_%s (not compared: not on Linux)" % needed)
    system_path, provided = system_libstdcxx_version()
    if not provided or version_key(needed) <= version_key(provided):
        return Finding(ID, OK, TITLE, "extensions need GLIBCXX_%s; the system's libstdc++ has %s"
                       % (needed, provided or "an unknown version"))
    env_lib = os.path.join(context.python_home, "lib", "libstdc++.so.6")
    return Finding(ID, FAIL, TITLE,
                   "%s needs GLIBCXX_%s but the GUI loads the system's %s (GLIBCXX_%s) first: import fails "
                   "with \"version `GLIBCXX_%s' not found\"" % (os.path.relpath(needer, context.python_home), needed,
                                                                 system_path, provided, needed),
                   "start the GUI with the env's libstdc++: LD_PRELOAD=%s open-ephys" % env_lib
                   if os.path.exists(env_lib) else
                   "conda install -p %s libstdcxx-ng, then LD_PRELOAD=%s open-ephys" % (context.python_home, env_lib))
