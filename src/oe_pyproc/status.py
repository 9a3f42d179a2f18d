"""The three outcomes of a check, and how they look on a terminal (shared by `check` and `doctor`)."""
OK, WARN, FAIL = "ok", "warn", "fail"
MARKS = {OK: ("✓", "green"), WARN: ("!", "yellow"), FAIL: ("✗", "red")}


def exit_status(findings) -> int:
    return 1 if any(finding.status == FAIL for finding in findings) else 0
