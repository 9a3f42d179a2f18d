from ..context import env_python_command
from ..findings import FAIL, OK, Finding

ID = "python-runs"
TITLE = "Env's python runs"


def check(context):
    if context.env.kind is None:
        return Finding(ID, FAIL, TITLE, "no python to run", "oe-pyproc setup --create")
    if not context.runs_here:
        return Finding(ID, OK, TITLE, "not run: a %s env read on %s; its files were checked instead"
                       % (context.env_platform or "foreign", context.system))
    probe = context.probe
    if probe is None:
        return Finding(ID, OK, TITLE, "not run (--no-probe)")
    if not probe.ok:
        return Finding(ID, FAIL, TITLE, probe.error or "the probe failed",
                       "%s -I -c \"import sys; print(sys.version)\"   shows the error; reinstall the env if it "
                       "persists: oe-pyproc setup --create" % env_python_command(context))
    answer = probe.answer
    return Finding(ID, OK, TITLE, "Python %s, %s, %d-bit (isolated, as the plugin runs it)"
                   % (answer.get("version"), answer.get("machine"), answer.get("bits", 0)))
