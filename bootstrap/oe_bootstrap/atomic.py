"""Rewrites a user's file so that nothing is ever lost: a backup first, then an atomic replace."""
import os
import shutil
import stat
import tempfile
from typing import Optional


class WriteRefused(Exception):
    """A file we will not write, with the reason in words."""


def backup_path(path: str) -> str:
    return path + ".bak"


def is_read_only(path: str) -> bool:
    """True when the file lacks every write permission bit, or this user may not write it.

    The bits are checked as well as ``os.access`` because root may write anything: a user who
    made a file read-only meant it, whoever runs us.
    """
    mode = os.stat(path).st_mode
    return not (mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) or not os.access(path, os.W_OK)


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 less the umask); mkstemp's own is 0o600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: str, data: bytes, backup: bool = True, mode: Optional[int] = None) -> Optional[str]:
    """Write ``data`` to ``path`` through a temporary file in the same folder, keeping ``path.bak``.

    ``mode`` sets the permissions; without it an existing file keeps its own and a new file gets
    the usual ones. Returns the backup's path (None when there was nothing to back up).
    """
    folder = os.path.dirname(os.path.abspath(path))
    exists = os.path.exists(path)
    if exists and is_read_only(path):
        raise WriteRefused("%s is read-only; make it writable or run as its owner, then try again" % path)
    os.makedirs(folder, exist_ok=True)
    try:
        handle, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=folder)
    except PermissionError as error:
        raise WriteRefused("cannot create files in %s; make the folder writable, then try again" % folder) from error
    saved = None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        elif exists:
            shutil.copymode(path, temporary)
        else:
            os.chmod(temporary, default_file_mode())
        if backup and exists:
            saved = backup_path(path)
            shutil.copy2(path, saved)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return saved
