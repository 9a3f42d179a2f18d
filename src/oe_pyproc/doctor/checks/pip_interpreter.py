import glob
import os
import re

from ..findings import FAIL, OK, Finding

ID = "pip-interpreter"
TITLE = "pip's interpreter"
SHEBANG = re.compile(rb"#!\s*\"?([^\r\n\"]*?python[\w.]*(?:\.exe)?)\"?\s*[\r\n]", re.IGNORECASE)


def pip_launchers(prefix):
    return sorted(glob.glob(os.path.join(glob.escape(prefix), "bin", "pip*")) +
                  glob.glob(os.path.join(glob.escape(prefix), "Scripts", "pip*.exe")))


def launcher_interpreter(path):
    """The python a pip launcher runs: a script's shebang, or the one written into a pip.exe's tail."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(1 << 20)
    except OSError:
        return None
    matches = list(SHEBANG.finditer(data))
    return matches[-1].group(1).decode("utf-8", "replace") if matches else None


def _inside(path, prefix):
    normal = lambda text: text.replace("\\", "/").rstrip("/").lower()  # noqa: E731
    return normal(path).startswith(normal(prefix) + "/")


def check(context):
    if "windowsapps" in context.python_home.lower():
        return Finding(ID, FAIL, TITLE, "%s is the Microsoft Store Python, whose files the GUI cannot load and "
                       "whose pip installs elsewhere" % context.python_home,
                       "oe-pyproc setup --create   (a conda env)")
    strays = []
    for launcher in pip_launchers(context.python_home):
        interpreter = launcher_interpreter(launcher)
        if interpreter and not _inside(interpreter, context.python_home):
            strays.append("%s runs %s" % (os.path.relpath(launcher, context.python_home), interpreter))
    if strays:
        python = context.env.python or "<env python>"
        return Finding(ID, FAIL, TITLE, "%s: packages it installs land in another Python, not this env"
                       % "; ".join(strays), "always use %s -m pip install ..." % python)
    return Finding(ID, OK, TITLE, "pip in this env installs into this env")
