from oe_bootstrap import PINNED_PYTHON

from ..findings import FAIL, OK, Finding
from ._engines import engine_locations

ID = "python-version"
TITLE = "Python version"
PINNED = "%d.%d" % PINNED_PYTHON


def check(context):
    version = context.env.major_minor
    if version is None:
        return Finding(ID, FAIL, TITLE, "unknown: no Python at %s" % context.python_home, "oe-pyproc setup --create")
    if version == PINNED or engine_locations(context):
        return Finding(ID, OK, TITLE, "Python %s" % context.env.version)
    return Finding(ID, FAIL, TITLE,
                   "Python %s, but the plugin's engine is built for Python %s (no engine for %s was found)"
                   % (context.env.version, PINNED, version),
                   "conda create -n oe-python-plugin python=%s numpy scipy   (or: oe-pyproc setup --create)" % PINNED)
