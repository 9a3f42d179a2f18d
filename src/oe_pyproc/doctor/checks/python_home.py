from ..findings import FAIL, OK, Finding

ID = "python-home"
TITLE = "Python Home"


def check(context):
    env = context.env
    if env.kind is None or (env.problem and env.kind != "venv"):
        return Finding(ID, FAIL, TITLE, env.problem or "no Python found at %s" % context.python_home,
                       "oe-pyproc setup --create   (makes the oe-python-plugin conda env and selects it)")
    subdir = " (%s)" % env.conda_subdir if env.conda_subdir else ""
    return Finding(ID, OK, TITLE, "%s, Python %s, at %s%s; chosen by %s" % (
        env.kind, env.version, env.prefix, subdir, context.home_source))
