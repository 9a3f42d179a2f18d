from ..findings import FAIL, OK, Finding

ID = "architecture"
TITLE = "Architecture"


def _env_archs(context):
    binaries = context.core_binaries or context.extension_binaries[:20]
    archs = set()
    for info in binaries:
        archs.update(info.archs)
    return archs


def check(context):
    archs = _env_archs(context)
    if not archs:
        return Finding(ID, OK, TITLE, "no binaries to read (plugin: %s)" % context.plugin_arch)
    if context.plugin_arch in archs:
        return Finding(ID, OK, TITLE, "env %s, plugin %s" % ("/".join(sorted(archs)), context.plugin_arch))
    fix = ("CONDA_SUBDIR=osx-64 conda create -n oe-python-plugin python=3.10 numpy scipy   "
           "(an Intel env, run by the GUI under Rosetta)" if context.env_platform == "macos"
           else "create the env with the %s build of Python: oe-pyproc setup --create" % context.plugin_arch)
    return Finding(ID, FAIL, TITLE, "the env's binaries are %s but the plugin is %s: loading fails with "
                   "'incompatible architecture'" % ("/".join(sorted(archs)), context.plugin_arch), fix)
