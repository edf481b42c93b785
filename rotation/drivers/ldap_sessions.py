"""Reused LDAPS sessions of kind ``ad``: what a run learns once per DC and the bind
account's session kept between the accounts of one run.

A TLS handshake with a loaded DC costs far more than the reset itself (measured 0.8-1.0 s
against 0.04 s for a modify, Samba under load), and a directory run resets many accounts on
one DC one after the other. So the bind account's session, once bound, is parked here when
an account is done and taken by the next one; the preflight's connection (TLS up, pin
checked, nothing sent) is parked for the open that follows it. Verification never takes a
parked session: it is always a fresh connection with the rotated account's own binds. Parked
sessions expire after IDLE_SECONDS and are closed at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
from typing import Any

IDLE_SECONDS = 30.0
_lock = threading.Lock()
# (host, port, bound account or "") -> [(connection, parked at)]
_idle: dict[tuple[str, int, str], list[tuple[Any, float]]] = {}
# (host, port) -> defaultNamingContext, read once from the rootDSE.
_naming: dict[tuple[str, int], str] = {}


def naming_context(host: str, port: int) -> str | None:
    with _lock:
        return _naming.get((host, port))


def remember_naming_context(host: str, port: int, dn: str) -> None:
    with _lock:
        _naming[(host, port)] = dn


def take(host: str, port: int, bound_as: str) -> Any | None:
    """A parked, still open session (bound as ``bound_as``; "" = not bound), or None."""
    now = time.monotonic()
    with _lock:
        parked = _idle.get((host, port, bound_as), [])
        while parked:
            conn, since = parked.pop()
            if now - since < IDLE_SECONDS and not conn.closed:
                return conn
            _close(conn)
    return None


def waiting(host: str, port: int, bound_as: str) -> bool:
    """Whether a session bound as ``bound_as`` is parked (its pin was checked when opened)."""
    now = time.monotonic()
    with _lock:
        return any(
            now - since < IDLE_SECONDS and not conn.closed
            for conn, since in _idle.get((host, port, bound_as), [])
        )


def park(host: str, port: int, bound_as: str, conn: Any) -> None:
    if conn.closed:
        return
    with _lock:
        _idle.setdefault((host, port, bound_as), []).append((conn, time.monotonic()))


def forget(host: str, port: int, bound_as: str) -> None:
    """Close the sessions parked for an account whose password just changed."""
    with _lock:
        parked = _idle.pop((host, port, bound_as), [])
    for conn, _ in parked:
        _close(conn)


def _close(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.unbind()


@atexit.register
def close_all() -> None:
    with _lock:
        parked = [conn for entries in _idle.values() for conn, _ in entries]
        _idle.clear()
    for conn in parked:
        _close(conn)
