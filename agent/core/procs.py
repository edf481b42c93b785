"""Processes: is a recorded one still running (the store's runs left by a dead keyturn, the
lab's processes it must kill before removing namespaces), what a child may inherit, and which
network namespace this process is in."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# What a child process (nmap, ip, samba-tool, a lab daemon) inherits: enough to find programs,
# speak the locale and find a home folder, nothing else. An allowlist, not a denylist of
# "secret-looking" names: KEYRING_CRYPTFILE_PASSWORD, an [ad] password_env variable (any
# name the operator chose), VAULT_TOKEN, AWS_* would otherwise sit in /proc/PID/environ,
# readable by the child's owner for as long as it runs.
CHILD_ENV_NAMES = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "HOME", "TZ", "TMPDIR")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def state(pid: int) -> str:
    """The process state letter from /proc (R, S, Z, ...); "X" (dead) when it is gone."""
    try:
        # comm (field 2) may contain spaces and parentheses: split after the last ')'.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def running(pid: int | None) -> bool:
    """True while PID exists and is not a zombie (a zombie has finished, it awaits a reaper)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists, we just may not signal it
    # A zombie child of ours would otherwise "exist" until we reap it.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return state(pid) not in ("Z", "X")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: the allowlisted variables of this one, plus the
    ``extra`` ones the caller names explicitly (SNMP_PERSISTENT_DIR, PYTHONPATH...)."""
    env = {name: os.environ[name] for name in CHILD_ENV_NAMES if name in os.environ}
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(extra)
    return env


@functools.cache
def _prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel send the child SIGTERM when the thread that
    started it ends, the whole keyturn process killed with SIGKILL included: a scan's nmap
    must not go on sending packets for minutes with nobody to read its results. None where
    the kernel has no such thing. (What runs in the child is one C call, resolved before
    the fork: nothing there takes a lock another thread could hold.)"""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died between the fork and the prctl
            os.kill(os.getpid(), signal.SIGTERM)

    return child


def run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
    """``subprocess.run`` with :func:`child_env` unless the caller passes ``env`` itself."""
    kwargs.setdefault("env", child_env())
    return subprocess.run(list(argv), **kwargs)


def netns_id(path: str | Path = "/proc/self/ns/net") -> tuple[int, int] | None:
    """The (device, inode) naming a network namespace: of this process by default, or of a
    named one (``/run/netns/NAME``); None when there is no such namespace."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def in_netns(name: str) -> bool:
    """True when this process runs inside the named network namespace (``ip netns exec``)."""
    named = netns_id(Path("/run/netns") / name)
    return named is not None and named == netns_id()
