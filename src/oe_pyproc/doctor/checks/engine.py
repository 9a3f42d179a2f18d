from ..findings import FAIL, OK, Finding
from ._engines import engine_file_name, engine_folders, engine_locations

ID = "engine"
TITLE = "Engine for this Python"


def check(context):
    if not context.version_tag or not context.env_platform:
        return Finding(ID, FAIL, TITLE, "no Python version to match an engine to", "oe-pyproc setup --create")
    found = engine_locations(context)
    if found:
        return Finding(ID, OK, TITLE, found[0])
    name = engine_file_name(context.version_tag, context.env_platform)
    return Finding(ID, FAIL, TITLE, "%s is in none of %s" % (name, ", ".join(engine_folders(context))),
                   "conda install -p %s -c oe oe-python-processor   (or pip install oe-python-processor with "
                   "the env's python)" % context.python_home)
