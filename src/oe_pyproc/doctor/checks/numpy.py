from ..context import env_python_command
from ..findings import FAIL, OK, Finding

ID = "numpy"
TITLE = "numpy"


def check(context):
    dists = context.dist_by_name().get("numpy", [])
    records = [r for r in context.conda_packages if r.get("name") == "numpy"]
    probe = context.probe
    if probe is not None and probe.ok and "numpy_error" in probe.answer:
        return Finding(ID, FAIL, TITLE, "import numpy fails in the env: %s" % probe.answer["numpy_error"],
                       _install_fix(context))
    if not dists and not records:
        return Finding(ID, FAIL, TITLE, "numpy is not installed in %s; the engine passes data as numpy arrays"
                       % context.python_home, _install_fix(context))
    version = (probe.numpy if probe is not None and probe.ok else None) or \
        (dists[0].version if dists else records[0].get("version"))
    return Finding(ID, OK, TITLE, "numpy %s" % version)


def _install_fix(context):
    if context.env.kind == "conda env":
        return "conda install -p %s numpy" % context.python_home
    return "%s -m pip install numpy" % env_python_command(context)
