"""Creates the ``oe-python-plugin`` env from the project's environment.yml, streaming the frontend's output."""
import os
import pkgutil
import subprocess
import tempfile
from typing import Callable, List, Optional

from .conda import Frontend


class CreateFailed(Exception):
    pass


def environment_yml_text() -> str:
    """The project's environment.yml: packaged beside this module (wheel, zipapp) or at the checkout's root."""
    try:
        return pkgutil.get_data(__package__, "environment.yml").decode("utf-8")
    except OSError:
        pass
    checkout = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "environment.yml")
    with open(checkout, encoding="utf-8") as stream:
        return stream.read()


def environment_yml_file(folder: Optional[str] = None) -> str:
    """A real file holding environment.yml (a zipapp's copy lives inside the archive)."""
    handle, path = tempfile.mkstemp(prefix="oe-python-plugin-", suffix=".yml", dir=folder)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(environment_yml_text())
    return path


def create_command(frontend: Frontend, environment_yml: str, name: str) -> List[str]:
    if frontend.kind == "micromamba":
        return [frontend.path, "create", "--yes", "--name", name, "--file", environment_yml]
    # conda and mamba create envs from a YAML file with `env create`; --yes is not needed there.
    return [frontend.path, "env", "create", "--name", name, "--file", environment_yml]


def create_env(frontend: Frontend, environment_yml: str, name: str,
               on_line: Optional[Callable[[str], None]] = None) -> None:
    """Run the frontend, passing each line it prints to ``on_line``; raise CreateFailed with its last words."""
    if not os.path.isfile(environment_yml):
        raise CreateFailed("%s does not exist; pass the project's environment.yml" % environment_yml)
    command = create_command(frontend, environment_yml, name)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               encoding="utf-8", errors="replace")
    tail: List[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip("\n")
        tail = (tail + [line])[-5:]
        if on_line:
            on_line(line)
    if process.wait() != 0:
        raise CreateFailed("%s exited with status %d:\n%s" % (" ".join(command), process.returncode, "\n".join(tail)))
