"""Every file keyturn writes: private, never through a symlink, never someone else's.

The store is a map of the client's network and its admin accounts, an export holds plaintext
passwords, the audit log and reports are evidence. So, whatever the umask:

- files are created 0600 and folders 0700 (an existing file of ours that is wider is
  narrowed to 0600 when keyturn opens it for writing);
- the final path component is opened with O_NOFOLLOW: a symlink planted where keyturn will
  write (``--out``, ``--json``, ``--log-file``, the report folder) is refused, never followed;
- an existing file owned by another user is refused (a file ``nobody`` created in advance
  would otherwise receive the passwords and stay readable by ``nobody``);
- whole-file outputs (reports, exports, ``--json``, unit files) are written to an
  unpredictable temporary name in the same folder and renamed into place, so a reader sees
  the old file or the new one, and an open descriptor on the old one never sees new bytes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import IO, Any

from agent.core.errors import OperationFailed, UsageError

FILE_MODE = 0o600
DIR_MODE = 0o700


class UnsafeFileError(OperationFailed):
    """A path keyturn was to write is a symlink, not a regular file, or another user's."""


class FileExistsRefused(UsageError):
    """The target exists and the command writes a new file only when told to (--force)."""


def private_dir(path: str | Path) -> Path:
    """Create ``path`` and missing parents 0700; folders that exist are left as they are
    (``/tmp``, a shared reports folder) but must be folders."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            continue  # created meanwhile by a parallel run
        os.chmod(folder, DIR_MODE, follow_symlinks=False)  # the umask narrowed mkdir's mode
    if not path.is_dir():
        raise UnsafeFileError(f"{path}: not a folder")
    return path


def open_private(path: str | Path, mode: str = "a", *, encoding: str | None = None) -> IO[Any]:
    """Open ``path`` for writing as a private file of ours: ``a`` appends, ``r+`` reads and
    writes (both create it), ``x`` creates a new file only; add ``b`` for bytes.
    Raises UnsafeFileError for a symlink, a non-regular file or another user's file."""
    return os.fdopen(open_private_fd(path, mode.replace("b", "")), mode, encoding=encoding)


def open_private_fd(path: str | Path, mode: str = "a") -> int:
    """The descriptor behind :func:`open_private` (for flock and pwrite users)."""
    flags = {
        "a": os.O_WRONLY | os.O_APPEND | os.O_CREAT,
        "r+": os.O_RDWR | os.O_CREAT,
        "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
    }[mode]
    path = Path(path)
    private_dir(path.parent)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(
                f"{path}: is a symbolic link; keyturn never writes through one"
            ) from None
        if exc.errno == errno.EEXIST:
            raise FileExistsRefused(f"{path}: already exists") from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):  # a FIFO nobody reads, a folder
            raise UnsafeFileError(
                f"{path}: not a regular file; keyturn writes only regular files"
            ) from None
        raise
    try:
        _check_ours(fd, path)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_atomic(
    path: str | Path, data: str | bytes, *, replace: bool = True, encoding: str = "utf-8"
) -> Path:
    """Write ``data`` to a new private file in ``path``'s folder under an unpredictable name,
    fsync it and rename it onto ``path``. ``replace=False`` refuses an existing target
    (FileExistsRefused). An existing target must be our own regular file, never a symlink."""
    path = Path(path)
    folder = private_dir(path.parent)
    _check_target(path, replace=replace)
    payload = data.encode(encoding) if isinstance(data, str) else data
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        _check_target(path, replace=replace)  # a planted symlink meanwhile is still refused
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_dir(folder)
    return path


def prepare_private(path: str | Path) -> Path:
    """Create ``path`` empty (or check the one there) as a private file of ours, for writers
    that open it by name themselves (SQLite)."""
    os.close(open_private_fd(path, "a"))
    return Path(path)


def _check_ours(fd: int, path: Path) -> None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(f"{path}: not a regular file; keyturn writes only regular files")
    if info.st_uid != os.geteuid():
        raise UnsafeFileError(
            f"{path}: owned by {_user_name(info.st_uid)}, not by this user; keyturn never "
            "writes into another user's file (remove it or choose another path)"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.fchmod(fd, FILE_MODE)


def _check_target(path: Path, *, replace: bool) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFileError(f"{path}: is a symbolic link; keyturn never writes through one")
    if not replace:
        raise FileExistsRefused(f"{path}: already exists (--force replaces it)")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(f"{path}: not a regular file; keyturn writes only regular files")
    if info.st_uid != os.geteuid():
        raise UnsafeFileError(
            f"{path}: owned by {_user_name(info.st_uid)}, not by this user; keyturn never "
            "replaces another user's file (remove it or choose another path)"
        )


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
