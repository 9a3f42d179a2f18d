"""Builds the single-file bootstrapper: python make_zipapp.py [OUT.pyz] (standard library only)."""
import os
import shutil
import sys
import tempfile
import zipapp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oe_bootstrap import project_version  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "build", "oe-pyproc-bootstrap.pyz")


def build(out: str = DEFAULT_OUT) -> str:
    with tempfile.TemporaryDirectory() as staging:
        package = os.path.join(staging, "oe_bootstrap")
        shutil.copytree(os.path.join(HERE, "oe_bootstrap"), package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy(os.path.join(HERE, "..", "environment.yml"), package)
        with open(os.path.join(package, "VERSION"), "w", encoding="ascii") as stream:  # read by __init__
            stream.write(project_version(os.path.join(HERE, "..", "pyproject.toml")) + "\n")
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        zipapp.create_archive(staging, out, interpreter="/usr/bin/env python3", main="oe_bootstrap.cli:main_exit")
    return out


if __name__ == "__main__":
    print(build(*sys.argv[1:2]))
