import os
import re

from ..distributions import canonical_name
from ..findings import FAIL, OK, Finding

ID = "pip-over-conda"
TITLE = "conda and pip packages"
DIST_INFO = re.compile(r"(?:^|/)site-packages/([^/]+?)-[^/-]+\.(?:dist|egg)-info/")


def conda_projects(records):
    """Project key -> conda package name, from the dist-info folders each conda package installed."""
    projects = {}
    for record in records:
        for path in record.get("files", []):
            match = DIST_INFO.search(path.replace("\\", "/"))
            if match:
                projects[canonical_name(match.group(1))] = record["name"]
    return projects


def check(context):
    if context.env.kind != "conda env":
        return Finding(ID, OK, TITLE, "not a conda env")
    projects = conda_projects(context.conda_packages)
    problems, names = [], []
    for key, dists in sorted(context.dist_by_name().items()):
        if len(dists) > 1:
            problems.append("%s installed twice (%s)" % (key, ", ".join(os.path.basename(d.path) for d in dists)))
            names.append(key)
        elif key in projects and (dists[0].installer or "").lower() == "pip":
            problems.append("pip installed %s %s over conda's package %s" % (dists[0].name, dists[0].version,
                                                                         projects[key]))
            names.append(projects[key])
    if problems:
        return Finding(ID, FAIL, TITLE, "; ".join(problems),
                       "conda install -p %s --force-reinstall %s   (let conda own its binary packages; use pip "
                       "--no-deps only for what conda lacks)" % (context.python_home, " ".join(names)))
    return Finding(ID, OK, TITLE, "%d conda packages, no package installed by both" % len(context.conda_packages))
