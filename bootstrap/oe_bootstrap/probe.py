"""Asks an env's own python what it is: version, architecture, numpy, paths.

It runs isolated (``-I``: no user site, no PYTHON* variables), as the plugin's
interpreter will, and answers in JSON on stdout.
"""
import json
import os
import subprocess
from typing import Dict, List, NamedTuple, Optional

PROBE = r"""
import json, platform, struct, sys
answer = {"version": "%d.%d.%d" % sys.version_info[:3], "machine": platform.machine(),
          "bits": struct.calcsize("P") * 8, "prefix": sys.prefix, "base_prefix": sys.base_prefix,
          "executable": sys.executable, "path": sys.path}
try:
    import numpy
    answer["numpy"] = numpy.__version__
    answer["numpy_file"] = numpy.__file__
except BaseException as error:
    answer["numpy_error"] = "%s: %s" % (type(error).__name__, error)
print(json.dumps(answer))
"""
LEAKING_VARIABLES = ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONUSERBASE")
PROBE_TIMEOUT_S = 30


class ProbeResult(NamedTuple):
    ok: bool
    answer: Dict[str, object]
    error: Optional[str]  # why the probe failed, in words

    @property
    def numpy(self) -> Optional[str]:
        return self.answer.get("numpy")  # type: ignore[return-value]


def clean_environment() -> Dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if key not in LEAKING_VARIABLES}
    environ["PYTHONIOENCODING"] = "utf-8"
    return environ


def probe_python(python: str, timeout: float = PROBE_TIMEOUT_S) -> ProbeResult:
    command: List[str] = [python, "-I", "-c", PROBE]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=clean_environment(),
                              encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ProbeResult(False, {}, "%s does not exist" % python)
    except OSError as error:  # e.g. a Windows python.exe on Linux: "Exec format error"
        return ProbeResult(False, {}, "%s cannot run here (%s)" % (python, error.strerror or error))
    except subprocess.TimeoutExpired:
        return ProbeResult(False, {}, "%s did not answer within %d s" % (python, timeout))
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["exit status %d" % done.returncode])[-1]
        return ProbeResult(False, {}, "%s failed to start: %s" % (python, last))
    try:
        return ProbeResult(True, json.loads(done.stdout.strip().splitlines()[-1]), None)
    except (ValueError, IndexError):
        return ProbeResult(False, {}, "%s printed something unexpected: %r" % (python, done.stdout[:200]))
