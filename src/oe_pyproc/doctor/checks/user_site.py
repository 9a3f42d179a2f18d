import os

from oe_bootstrap import folders

from ..context import env_python_command
from ..distributions import distributions
from ..findings import FAIL, OK, Finding

ID = "user-site"
TITLE = "pip --user packages"


def user_site_folders(context):
    version = context.env.major_minor
    if not version:
        return []
    system = {"windows": folders.WINDOWS, "macos": folders.MACOS}.get(context.env_platform, folders.LINUX)
    if system != context.system:
        return []  # a foreign env's user folders live on another machine
    both = {folders.user_site_dir(version, system, context.environ, context.user_home, framework)
            for framework in (False, True)}
    return sorted(both)


def check(context):
    found = [(folder, dist) for folder in user_site_folders(context) for dist in distributions(folder)]
    if not found:
        return Finding(ID, OK, TITLE, "none for Python %s" % (context.env.major_minor or "?"))
    names = sorted({dist.name for _, dist in found})
    where = sorted({folder for folder, _ in found})
    return Finding(ID, FAIL, TITLE,
                   "%s installed with pip --user in %s: the plugin's interpreter does not read the user "
                   "site folder, so they are invisible in the GUI" % (", ".join(names), ", ".join(where)),
                   "%s -m pip install --no-user %s   (then remove them from %s)"
                   % (env_python_command(context), " ".join(names), os.pathsep.join(where)))
