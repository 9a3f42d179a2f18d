from ...contract import check_script
from ..findings import FAIL, OK, WARN, Finding

ID = "script"
TITLE = "Script in the engine"


def _located(finding) -> str:
    where = "%s:%s" % (finding.path, finding.line) if finding.line else finding.path
    return "%s: %s" % (where, finding.message)


def check(context):
    if not context.script:
        return None
    if not context.runs_here:
        return Finding(ID, WARN, TITLE, "not run: the env is for another OS", "run the doctor on that machine")
    findings = check_script(context.script, context.env.prefix)  # what it reads, then a short run
    problems = [f for f in findings if f.status == FAIL] + [f for f in findings if f.status == WARN]
    if not problems:
        return Finding(ID, OK, TITLE, "; ".join(f.message for f in findings) or "ran cleanly")
    worst = problems[0]
    evidence = "\n".join([_located(worst)] + ([worst.detail] if worst.detail else [])
                         + [_located(f) for f in problems[1:]])
    return Finding(ID, worst.status, TITLE, evidence,
                   "oe-pyproc check %s   (then run it again with oe-pyproc run)" % context.script)
