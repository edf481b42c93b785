"""Is a recorded process still running? Shared by the store (runs left by a dead keyturn)
and the lab (processes it must kill before removing namespaces)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


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
