"""The CPython installations of this machine (pyenv), for tests across versions."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Optional


def pyenv_root() -> Optional[Path]:
    root = os.environ.get("PYENV_ROOT")
    if not root:
        try:
            root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None
    return Path(root)


def pyenv_python(version: str) -> Optional[Path]:
    """bin/python<major.minor> of the newest pyenv install of that version with a shared libpython."""
    root = pyenv_root()
    if root is None:
        return None
    for install in sorted((root / "versions").glob(f"{version}.*"), reverse=True):
        python = install / "bin" / f"python{version}"
        if python.is_file() and list((install / "lib").glob("libpython*.so*")):
            return python
    return None
