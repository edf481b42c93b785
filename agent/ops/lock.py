"""One run at a time per client, and per client store.

A scheduled run that starts while another is still going (a slow sweep, an operator running
``onboard`` by hand) must exit with a clear message instead of racing it: two rotations of
the same device could escrow different passwords. Two locks, both ``fcntl.flock`` (they die
with their process and never go stale), taken in this order:

- the client's lock, ``<data dir>/locks/<client>.lock``: the keyring is per client, not per
  store file, so two runs for one client that name different ``--store`` paths must not
  interleave either (one would promote a password the other has just replaced). The data
  dir follows XDG_DATA_HOME, as keyring's own file backends do: one keyring, one lock;
- the store's lock, ``<store>.lock`` beside the store (one store, one writer).

A mutating command then checks the audit log before it changes anything: a damaged log
refuses the run at once instead of after the devices were changed (inventory/audit.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core import files
from agent.core.errors import LockedError

if TYPE_CHECKING:
    from agent.context import AppContext


def lock_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".lock")


def client_lock_path(client: str) -> Path:
    """The lock of one client's keyring service, whatever store a run names."""
    from platformdirs import user_data_dir

    slug = re.sub(r"[^A-Za-z0-9._-]", "_", client)[:48]
    digest = hashlib.sha256(client.encode()).hexdigest()[:12]  # distinct names stay distinct
    return Path(user_data_dir("keyturn")) / "locks" / f"{slug}-{digest}.lock"


def _held_key(store_path: Path) -> Path:
    # The folder resolved (one store reached by two spellings is one lock), the lock file
    # itself not: a symlink planted there is refused, never followed.
    path = lock_path(store_path)
    return path.parent.resolve() / path.name


@dataclass
class _Held:
    fd: int
    depth: int = 1


# flock conflicts between two descriptors of one process too, so nested lock() calls in one
# process (onboard calling the stages) share the descriptor they already hold.
_HELD: dict[Path, _Held] = {}


@contextlib.contextmanager
def hold(store_path: Path, command: str) -> Iterator[Path]:
    """Hold the store's lock for the block; raise LockedError at once if another process has it."""
    with _hold(_held_key(store_path), command, str(store_path)) as path:
        yield path


@contextlib.contextmanager
def hold_client(client: str, command: str) -> Iterator[Path]:
    """Hold the client's lock (its keyring) for the block; LockedError at once if taken."""
    with _hold(client_lock_path(client), command, f"client {client!r}") as path:
        yield path


@contextlib.contextmanager
def _hold(path: Path, command: str, what: str) -> Iterator[Path]:
    held = _HELD.get(path)
    if held is not None:
        held.depth += 1
        try:
            yield path
        finally:
            held.depth -= 1
        return
    fd = files.open_private_fd(path, "r+")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _describe_holder(fd)
        os.close(fd)
        raise LockedError(
            f"another keyturn run holds {what} ({holder}); this run changed nothing - "
            "try again when it has finished"
        ) from None
    _HELD[path] = _Held(fd)
    try:
        _write_holder(fd, command)
        yield path
    finally:
        del _HELD[path]
        os.close(fd)  # closing the last descriptor releases the flock


def holder(store_path: Path) -> dict[str, Any] | None:
    """Who holds the lock now (pid, command, host, since), or None when it is free."""
    path = lock_path(store_path)
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd) or {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextlib.contextmanager
def client_lock(app: AppContext, command: str, *, check_audit: bool = True) -> Iterator[Path | str]:
    """AppContext.lock(): the client's and the store's locks, the audit log checked (unless
    ``check_audit`` is False: `audit seal-damage` repairs it), plus one ``run_summary`` log
    line per run this command recorded, written when the outermost holder lets go (log
    shippers read these). With a central PostgreSQL store the store's lock is the client's
    advisory lock there, so it holds across jump hosts."""
    if app.store_url is not None:
        outermost = not app.store.lock_depth
        store_lock = app.store.client_lock(command)
    else:
        outermost = _held_key(app.resolved_store_path) not in _HELD
        store_lock = hold(app.resolved_store_path, command)
    with hold_client(app.config.client, command), store_lock as path:
        if outermost and check_audit:
            app.audit.require_intact()
        baseline = _last_run_id(app) if outermost else None
        try:
            yield path
        finally:
            if outermost:
                _log_summaries(app, baseline)


def _log_summaries(app: AppContext, baseline: int | None) -> None:
    from agent.ops.runlog import log, log_run_summaries

    try:
        log_run_summaries(app.store, after=baseline)
    except Exception as exc:  # a summary line must never mask the command's own error
        log.warning("run summaries not logged: %s", exc)


def _last_run_id(app: AppContext) -> int:
    from inventory.queries import last_run_id

    return last_run_id(app.store)


def _write_holder(fd: int, command: str) -> None:
    from inventory.store import utcnow

    info = {"pid": os.getpid(), "command": command, "host": socket.gethostname(), "since": utcnow()}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)


def _read_holder(fd: int) -> dict[str, Any] | None:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"null")
    except ValueError:
        return None  # the holder is between truncate and write


def _describe_holder(fd: int) -> str:
    # The holder writes its name just after taking the lock: give it a moment to appear.
    for _attempt in range(25):
        info = _read_holder(fd)
        if info:
            break
        time.sleep(0.02)
    if not info:
        return "holder unknown"
    return (
        f"'keyturn {info.get('command')}' pid {info.get('pid')} on {info.get('host')}"
        f" since {info.get('since')}"
    )
