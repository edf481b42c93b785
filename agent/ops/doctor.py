"""Machine checks behind ``keyturn doctor``: each returns ok/FAIL with one line of detail.

A check never changes anything a run depends on: the keyring is only read, the store is
opened (created if new, which ``onboard`` would do anyway) and a write transaction is rolled
back.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from agent.core import procs

if TYPE_CHECKING:
    from agent.context import AppContext

CAP_NET_RAW = 13
MIN_YEAR = 2024


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def run_checks(app: AppContext) -> list[Check]:
    """Every check, in order; an unexpected exception is that check's failure."""
    results = []
    for name, check in CHECKS:
        try:
            ok, detail = check(app)
        except Exception as exc:
            from agent.core.secret import scrub

            ok, detail = False, scrub(str(exc)) or type(exc).__name__
        results.append(Check(name, ok, detail))
    return results


def check_nmap(app: AppContext) -> tuple[bool, str]:
    path = shutil.which("nmap")
    if not path:
        return False, "nmap not found on PATH (apt-get install nmap)"
    out = procs.run(
        [path, "--version"], capture_output=True, text=True, timeout=20, check=False
    ).stdout
    match = re.search(r"Nmap version (\S+)", out)
    return bool(match), f"{path} version {match.group(1)}" if match else f"{path}: no version"


def check_raw_sockets(app: AppContext) -> tuple[bool, str]:
    # Read the effective capability set instead of opening a socket: no packet, no side effect.
    status = Path("/proc/self/status").read_text()
    match = re.search(r"^CapEff:\s*([0-9a-f]+)", status, re.MULTILINE)
    if match and int(match.group(1), 16) >> CAP_NET_RAW & 1:
        return True, "CAP_NET_RAW present (ARP sweep and nmap -sS/-O can run)"
    return False, "no CAP_NET_RAW: run as root or grant cap_net_raw,cap_net_admin"


def check_keyring(app: AppContext) -> tuple[bool, str]:
    from agent.core.secret_store import backend_name, open_backend

    if app.config.secrets.backend == "vault":
        # Opening the store asks the vault whether it is unsealed and takes the token.
        return True, f"{app.secret_store.service}: unsealed, token accepted"

    # open_backend refuses a plaintext backend anywhere in keyring's chain (the error is
    # this check's FAIL line), and one that would prompt with nobody at a terminal.
    backend = open_backend(interactive=False)
    # One read proves an encrypted file keyring unlocks with the password it was given.
    backend.get_password("keyturn/doctor", "probe")
    chain = [backend_name(b) for b in getattr(backend, "backends", [backend])]
    return True, f"{' + '.join(chain)} usable (no plaintext backend in the chain)"


def check_config(app: AppContext) -> tuple[bool, str]:
    """The config loads (and, for a lab's config, runs inside that lab), and its scope passes
    the rules discover applies: not empty, no public range unless allowed, IPv4, not all
    excluded, not too large to sweep."""
    from agent.core.errors import ScopeError

    source = app.config_path or os.environ.get("KEYTURN_CONFIG")
    config = app.config
    if source is None and not config.scope:
        return True, f"no --config given: defaults for client {config.client!r}"
    where = source or "--scope"
    try:
        guard = config.scope_guard()
        guard.check_sweepable()
    except ScopeError as exc:
        return False, f"{where}: {exc}"
    return True, (
        f"{where}: client {config.client!r}, {len(config.scope)} scope network(s), "
        f"{guard.size()} address(es)"
    )


def check_store(app: AppContext) -> tuple[bool, str]:
    store = app.store  # opening runs PRAGMA quick_check and refuses a damaged file
    with store.transaction() as db:  # BEGIN IMMEDIATE takes the write lock
        db.execute("SELECT 1")
    return True, f"{store.path} writable, quick_check ok (schema {store.schema_version})"


def check_audit_log(app: AppContext) -> tuple[bool, str]:
    verdict = app.audit.verify()
    return verdict.ok, f"{app.audit_log_path}: {verdict.describe()}"


def check_clock(app: AppContext) -> tuple[bool, str]:
    now = time.time()
    year = datetime.fromtimestamp(now, UTC).year
    if year < MIN_YEAR:
        return False, f"the clock says {year}: set the time (audit entries carry it)"
    # This installation's own files were written in the past; a clock behind them is wrong.
    newest = max(path.stat().st_mtime for path in Path(__file__).parent.glob("*.py"))
    if now < newest - 300:
        behind = int((newest - now) / 60)
        return False, f"the clock is {behind} min behind files this installation wrote"
    return True, datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")


CHECKS: list[tuple[str, Callable[[AppContext], tuple[bool, str]]]] = [
    ("nmap", check_nmap),
    ("raw-sockets", check_raw_sockets),
    ("keyring", check_keyring),
    ("config", check_config),
    ("store", check_store),
    ("audit-log", check_audit_log),
    ("clock", check_clock),
]
