import re

from ..findings import OK, Finding

ID = "sys-executable"
TITLE = "sys.executable"
SPAWNS = re.compile(r"\b(multiprocessing|ProcessPoolExecutor|joblib|subprocess)\b")


def check(context):
    python = context.env.python or "the env's python"
    note = ""
    if context.script:
        with open(context.script, encoding="utf-8", errors="replace") as stream:
            used = sorted(set(SPAWNS.findall(stream.read())))
        if used:
            note = "; the script uses %s, whose workers start that python, not a second GUI" % ", ".join(used)
    return Finding(ID, OK, TITLE, "the engine sets sys.executable to %s%s" % (python, note))
