import re

from ..findings import FAIL, OK, Finding

ID = "numpy-abi"
TITLE = "numpy ABI"


def _major(version):
    match = re.match(r"(\d+)", version or "")
    return int(match.group(1)) if match else None


def _needs_numpy1(requirement):
    """'numpy<2', 'numpy (<2.0,>=1.21)', 'numpy >=1.21,<2.0a0' all cap numpy below 2."""
    text = requirement.replace(" ", "")
    return bool(re.match(r"numpy\b", text, re.IGNORECASE)) and bool(re.search(r"<2(\.0)?(a0)?(\b|,|\)|;|$)", text))


def check(context):
    numpy = context.dist_by_name().get("numpy", [])
    records = [r for r in context.conda_packages if r.get("name") == "numpy"]
    version = numpy[0].version if numpy else (records[0].get("version") if records else None)
    if _major(version) is None or _major(version) < 2:
        return Finding(ID, OK, TITLE, "numpy %s" % version if version else "no numpy")
    capped = [dist.name for dist in context.distributions
              if any(_needs_numpy1(requirement.split(";")[0]) for requirement in dist.requires)]
    capped += [record["name"] for record in context.conda_packages
               if any(_needs_numpy1(dependency) for dependency in record.get("depends", []))]
    if capped:
        return Finding(ID, FAIL, TITLE, "numpy %s is installed but %s require numpy < 2: importing them fails "
                       "with 'A module that was compiled using NumPy 1.x cannot be run in NumPy 2'"
                       % (version, ", ".join(sorted(set(capped)))),
                       "install versions built for numpy 2 (conda install -p %s %s), or numpy<2"
                       % (context.python_home, " ".join(sorted(set(capped)))))
    return Finding(ID, OK, TITLE, "numpy %s; no package asks for numpy < 2" % version)
