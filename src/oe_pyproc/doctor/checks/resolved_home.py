import os

from oe_bootstrap.resolve import resolve_python_home

from ..findings import FAIL, OK, WARN, Finding

ID = "resolved-home"
TITLE = "Home the plugin will use"


def _same(a, b):
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def check(context):
    resolution = resolve_python_home(context.gui, context.environ)
    notes = "; skipped: %s" % "; ".join(resolution.notes) if resolution.notes else ""
    fix = "oe-pyproc setup --python-home %s" % context.python_home
    if resolution.python_home is None:
        return Finding(ID, FAIL, TITLE, "none: no saved chain, settings file, OE_PYTHON_HOME or conda env "
                       "oe-python-plugin names one, so the GUI will ask (and fail in --headless)%s" % notes, fix)
    evidence = "%s, from the %s (%s)%s" % (resolution.python_home, resolution.source, resolution.where, notes)
    if not _same(resolution.python_home, context.python_home):
        return Finding(ID, WARN, TITLE, evidence + "; not the home checked here", fix)
    return Finding(ID, OK, TITLE, evidence)
