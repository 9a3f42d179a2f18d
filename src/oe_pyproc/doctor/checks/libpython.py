from ..findings import FAIL, OK, Finding

ID = "libpython"
TITLE = "libpython"


def check(context):
    env = context.env
    if env.kind is None:
        return Finding(ID, FAIL, TITLE, "no Python to take libpython from", "oe-pyproc setup --create")
    if not env.libpython:
        return Finding(ID, FAIL, TITLE,
                       "no shared libpython %s in %s: this Python was built without --enable-shared, and the "
                       "plugin can only load a shared one" % (env.major_minor, env.base_prefix or env.prefix),
                       "oe-pyproc setup --create   (conda's Python ships libpython)")
    how = ("loaded by full path; python3.dll is loaded beside it" if context.env_platform == "windows"
           else "loaded by full path with RTLD_GLOBAL, so C extensions find its symbols")
    return Finding(ID, OK, TITLE, "%s (%s)" % (env.libpython, how))
