from oe_bootstrap.engines import PINNED, version_problem

from ..findings import FAIL, OK, Finding
from ._engines import engine_folders, engine_locations

ID = "python-version"
TITLE = "Python version"


def check(context):
    version = context.env.major_minor
    if version is None:
        return Finding(ID, FAIL, TITLE, "unknown: no Python at %s" % context.python_home, "oe-pyproc setup --create")
    problem = version_problem(context.env.version or version, engine_locations(context), engine_folders(context))
    if problem is None:
        return Finding(ID, OK, TITLE, "Python %s" % context.env.version)
    return Finding(ID, FAIL, TITLE, problem,
                   "conda create -n oe-python-plugin python=%s numpy scipy   (or: oe-pyproc setup --create)" % PINNED)
