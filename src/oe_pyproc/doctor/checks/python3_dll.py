import os

from ..findings import FAIL, OK, Finding

ID = "python3-dll"
TITLE = "python3.dll (abi3)"


def check(context):
    if context.env_platform != "windows":
        return Finding(ID, OK, TITLE, "not a Windows env")
    users = sorted({dist.name for dist in context.distributions if dist.is_abi3})
    users += sorted({os.path.basename(info.path) for info in context.extension_binaries
                     if "python3.dll" in (name.lower() for name in info.imports)})
    present = os.path.isfile(os.path.join(context.python_home, "python3.dll"))
    if not users:
        return Finding(ID, OK, TITLE, "no stable-ABI (abi3) extension")
    if present:
        return Finding(ID, OK, TITLE, "%s need python3.dll; it is at the env root and the plugin loads it"
                       % ", ".join(users))
    return Finding(ID, FAIL, TITLE,
                   "%s use the stable ABI and import python3.dll, which is missing from %s: importing them fails "
                   "with 'DLL load failed'" % (", ".join(users), context.python_home),
                   "conda install -p %s --force-reinstall python   (restores python3.dll), or install these "
                   "packages from conda-forge" % context.python_home)
