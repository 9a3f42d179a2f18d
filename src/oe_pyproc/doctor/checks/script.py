from ...contract import run_findings
from ..findings import FAIL, OK, WARN, Finding

ID = "script"
TITLE = "Script in the engine"


def check(context):
    if not context.script:
        return None
    if not context.runs_here:
        return Finding(ID, WARN, TITLE, "not run: the env is for another OS", "run the doctor on that machine")
    findings = run_findings(context.script, context.env.prefix)
    worst = next((f for f in findings if f.status == FAIL), None) or next(
        (f for f in findings if f.status == WARN), None)
    if worst is None:
        return Finding(ID, OK, TITLE, "; ".join(f.message for f in findings) or "ran cleanly")
    where = "%s:%s" % (worst.path, worst.line) if worst.line else worst.path
    evidence = "%s: %s" % (where, worst.message)
    if worst.detail:
        evidence += "\n" + worst.detail
    return Finding(ID, worst.status, TITLE, evidence,
                   "oe-pyproc check %s   (then run it again with oe-pyproc run)" % context.script)
