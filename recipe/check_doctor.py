"""meta.yaml's doctor test: `oe-pyproc doctor --json` on the test env itself.

A test env has no Open Ephys GUI, so the checks about the GUI's own folders may
say anything; every check about what the package installed must be ok, and no
other check may fail.
"""
import json
import subprocess
import sys

ABOUT_THE_PACKAGE = {"python-home", "python-version", "libpython", "architecture", "python-runs", "numpy",
                     "numpy-abi", "pip-over-conda", "sys-executable", "engine"}
ABOUT_THE_GUI = {"gui-folder", "plugin-installed", "resolved-home"}


def main() -> int:
    done = subprocess.run(["oe-pyproc", "doctor", "--json", "--python-home", sys.prefix],
                          capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1 means a check failed, which is judged below
        print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
        return 1
    findings = {finding["id"]: finding for finding in json.loads(done.stdout)["findings"]}
    problems = ["%s: no finding" % check for check in sorted(ABOUT_THE_PACKAGE - set(findings))]
    for check, finding in sorted(findings.items()):
        must_be_ok = check in ABOUT_THE_PACKAGE
        if (must_be_ok and finding["status"] != "ok") or (check not in ABOUT_THE_GUI and finding["status"] == "fail"):
            problems.append("%s is %s: %s (fix: %s)" % (check, finding["status"], finding["evidence"], finding["fix"]))
    for problem in problems:
        print("doctor: " + problem, file=sys.stderr)
    print("doctor: %d findings, %d about the package all ok" % (len(findings), len(ABOUT_THE_PACKAGE))
          if not problems else "doctor: %d problem(s)" % len(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
