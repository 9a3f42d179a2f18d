"""Gets a user from nothing to a working Python Home for the Python Processor.

Standard library only, Python 3.8+: it runs before the env exists, from a
checkout or as the single-file ``oe-pyproc-bootstrap.pyz``. ``oe-pyproc`` uses
these modules as they are.
"""
import os
import pkgutil
import re


def _version() -> str:
    """The project's one version, written only in pyproject.toml: the checkout's (run from a clone), the
    zipapp's copy of it, else the installed distribution's metadata (wheel, conda)."""
    checkout = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "pyproject.toml")
    if os.path.isfile(checkout) and _is_ours(checkout):
        return project_version(checkout)
    try:
        packaged = pkgutil.get_data(__name__, "VERSION")  # make_zipapp.py writes it into the .pyz
        if packaged:
            return packaged.decode("ascii").strip()
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("oe-python-processor")
    except PackageNotFoundError:  # a copied package folder: it still runs, and says it does not know
        return "0+unknown"


def _is_ours(pyproject: str) -> bool:
    with open(pyproject, encoding="utf-8") as stream:
        return re.search(r'(?m)^name = "oe-python-processor"$', stream.read()) is not None


def project_version(pyproject: str) -> str:
    """The `version = "..."` line of a pyproject.toml's [project] table."""
    with open(pyproject, encoding="utf-8") as stream:
        found = re.search(r'(?m)^version = "([^"]+)"', stream.read())
    if not found:
        raise RuntimeError("no version line in " + pyproject)
    return found.group(1)


__version__ = _version()

ENV_NAME = "oe-python-plugin"
PLUGIN_NAME = "Python Processor"  # the processor's name in a signal chain
PLUGIN_API = 10
PINNED_PYTHON = (3, 10)
