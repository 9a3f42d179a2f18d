from ..findings import FAIL, OK, Finding

ID = "venv-base"
TITLE = "venv base Python"


def check(context):
    env = context.env
    if env.kind != "venv":
        return Finding(ID, OK, TITLE, "not a venv")
    if env.problem:
        return Finding(ID, FAIL, TITLE, env.problem,
                       "python%s -m venv --clear %s   (with a Python %s that exists), then reinstall its packages"
                       % (env.major_minor or "3", env.prefix, env.major_minor or ""))
    if not env.libpython:
        return Finding(ID, FAIL, TITLE, "the base installation %s has no shared libpython" % env.base_prefix,
                       "make the venv from a Python built with --enable-shared (conda's and python.org's are)")
    return Finding(ID, OK, TITLE, "base installation %s supplies %s" % (env.base_prefix, env.libpython))
