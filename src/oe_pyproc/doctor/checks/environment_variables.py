from oe_bootstrap import folders

from ..findings import FAIL, OK, WARN, Finding

ID = "environment-variables"
TITLE = "Environment variables"
LEAKING = ("PYTHONHOME", "PYTHONPATH")


def unset_command(names, system):
    if system == folders.WINDOWS:
        return "; ".join('[Environment]::SetEnvironmentVariable("%s", $null, "User")' % name for name in names)
    return "unset %s   (and remove it from ~/.bashrc, ~/.zshrc or ~/.profile)" % " ".join(names)


def check(context):
    leaking = [name for name in LEAKING if context.environ.get(name)]
    if leaking:
        shown = ", ".join("%s=%s" % (name, context.environ[name]) for name in leaking)
        return Finding(ID, FAIL, TITLE, "%s set: every Python started from this shell (the env's pip, "
                       "oe-pyproc, scripts you test) imports from there instead of the env; the plugin ignores "
                       "it, so what you test is not what runs" % shown, unset_command(leaking, context.system))
    if context.environ.get("CONDA_DLL_SEARCH_MODIFICATION_ENABLE"):
        return Finding(ID, WARN, TITLE, "CONDA_DLL_SEARCH_MODIFICATION_ENABLE is set: conda's Python searches "
                       "PATH for DLLs, the GUI does not", unset_command(["CONDA_DLL_SEARCH_MODIFICATION_ENABLE"],
                                                                       context.system))
    return Finding(ID, OK, TITLE, "no PYTHONHOME or PYTHONPATH")
