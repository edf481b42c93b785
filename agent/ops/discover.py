"""Use case: discover the scope (or import an nmap scan), record it, prefill the checklist.

`keyturn discover` and onboard's discover stage both call :func:`discover`; the options are
built once here from the site's ``[discover]`` table and whatever flags the caller has.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import UsageError

if TYPE_CHECKING:
    from agent.context import AppContext
    from agent.discovery import Options, Progress


def discover_options(
    app: AppContext,
    *,
    iface: str | None = None,
    rate: str | None = None,
    ports: str | None = None,
    no_nmap: bool = False,
    communities: Sequence[str] = (),
) -> Options:
    """The sweep's options: each flag given wins over the site's ``[discover]`` table."""
    from agent.core.secret import Secret
    from agent.discovery import Options

    settings = app.config.discover
    return Options(
        iface=iface or settings.iface,
        rate=_rate(rate, settings.rate),
        ports=ports or settings.ports,
        nmap=settings.nmap and not no_nmap,
        communities=[Secret(c) for c in (communities or settings.snmp_communities)],
    )


def discover(
    app: AppContext,
    options: Options,
    *,
    scope: Sequence[str] = (),
    exclude: Sequence[str] = (),
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Sweep and enrich the scope, store the run, audit it, prefill the checklist; returns
    the run's document. Usage and privilege errors come before any packet or store."""
    from agent.discovery import run_discovery
    from agent.discovery.interfaces import require_net_raw

    guard = app.config.scope_guard(list(scope), list(exclude))
    guard.check_sweepable()  # IPv6 or all excluded: one line now, not "0 hosts" later
    if options.nmap:
        from agent.discovery.nmapscan import port_args

        port_args(options.ports)  # a bad --ports is exit 2 now, not after the sweep
    require_net_raw()  # one line and exit 2 before the store or any packet
    with app.lock("discover"), _audit_key(app) as audit_key:
        with _interruptible():
            document = run_discovery(
                app.store, guard, options, operator=app.operator, client=app.config.client,
                progress=progress, swept=audit_key,
            )  # fmt: skip
        _record(app, document, options=options)
    return document


@contextlib.contextmanager
def _audit_key(app: AppContext) -> Iterator[Callable[[], None]]:
    """Fetches the audit log's key for the block; yields a call that waits for it and raises
    what the fetch raised. discover makes that call once the sweep is done: a locked or
    unusable keyring stops the run before nmap's enrichment and before any host is stored,
    not after an hour of scanning (the log signs the run's line at the end). A run that
    cannot prompt fetches the key beside the sweep, whose waits hold the keyring's import and
    unlock (~0.15 s of a /24 sweep-only run); one that may prompt for the keyring's password
    asks now, before the progress display. The block never ends with the fetch still going
    (an abandoned thread could be cut off while it writes a new key into the keyring)."""
    audit = app.audit  # built here: it opens the store, whose connection is this thread's
    if app.interactive:
        audit.key  # noqa: B018
        yield lambda: None
        return
    failure: list[BaseException] = []

    def fetch() -> None:
        try:
            audit.key  # noqa: B018
        except BaseException as exc:  # re-raised on the main thread
            failure.append(exc)

    worker = threading.Thread(target=fetch, name="audit-key", daemon=True)
    worker.start()

    def ready() -> None:
        worker.join()
        if failure:
            raise failure[0]

    try:
        yield ready
    finally:
        worker.join()


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C and SIGTERM (what ``timeout`` sends) stop the scan's nmap processes and end
    the discovery with what it found, stored as a partial run; a signal while a run is
    being stored is ignored, so the store is never left half-written."""
    from agent.discovery import nmapscan
    from agent.discovery.run import SCANNING, Interrupted

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only (onboard's stages run there too)
        return
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping or not SCANNING.is_set():
            return  # a second signal, or the run is being stored: let that finish
        stopping = True
        nmapscan.stop_all()
        raise Interrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def import_nmap(
    app: AppContext, path: str | Path, *, scope: Sequence[str] = (), exclude: Sequence[str] = ()
) -> dict[str, Any]:
    """An existing nmap XML scan into the inventory as a discover run (no packet sent)."""
    from agent.discovery import import_scan

    config = app.config
    guard = config.scope_guard(list(scope), list(exclude)) if (scope or config.scope) else None
    with app.lock("discover"):
        app.audit.key  # noqa: B018 - a locked keyring fails before the import is stored
        document = import_scan(app.store, path, guard, operator=app.operator, client=config.client)
        _record(app, document, imported=Path(path).name)
    return document


def _record(
    app: AppContext,
    document: dict[str, Any],
    *,
    options: Options | None = None,
    imported: str | None = None,
) -> None:
    """Who scanned which scope from which interfaces, and what came of it; then the
    checklist items the new inventory implies."""
    from agent.ops.checklist import prefill_checklist

    diff = document.get("diff") or {}
    seconds = document.get("stats", {}).get("stage_seconds", {})
    detail: dict[str, Any] = {
        "scope": document["scope"],
        "exclude": document["exclude"],
        "interfaces": sorted(s.split(":", 1)[1] for s in seconds if s.startswith("arp:")),
        "routed_sweep": "routed" in seconds,
        "nmap": bool(options and options.nmap),
        "ports": document.get("ports"),
        "snmp": bool(options and options.communities),
        "hosts": len(document["hosts"]),
        "new": len(diff.get("new", [])),
        "gone": len(diff.get("gone", [])),
        "changed": len(diff.get("changed", [])),
        "mac_changed": len(diff.get("mac_changed", [])),
        "errors": len(document["errors"]),
    }
    if document.get("interrupted"):
        detail["interrupted"] = document["interrupted"]["reason"]
        detail["enriched"] = len(document["interrupted"]["enriched"])
    if document.get("resumed_from"):
        detail["resumed_from"] = document["resumed_from"]
    if imported:
        detail["imported"] = imported
    target = ",".join(document["scope"]) or (imported or app.config.client)
    app.audit.append(
        "discover.scan", target, document["status"], run_id=document["run_id"], detail=detail
    )
    prefill_checklist(app, discover_run=document["run_id"], run_id=document["run_id"])


def summary_line(document: dict[str, Any]) -> str:
    """'N hosts; a new, b gone, c changed since run R' (what onboard's stage line says)."""
    diff = document.get("diff") or {}
    line = f"{len(document['hosts'])} hosts"
    if diff.get("previous_run_id"):
        line += (
            f"; {len(diff.get('new', []))} new, {len(diff.get('gone', []))} gone, "
            f"{len(diff.get('changed', []))} changed since run {diff['previous_run_id']}"
        )
    return line


def _rate(flag: str | None, configured: int) -> int | None:
    if flag is None:
        return configured
    if flag == "max":
        return None
    if not flag.isdigit() or int(flag) <= 0:
        raise UsageError(f"--rate takes packets per second or 'max' (got {flag!r})")
    return int(flag)
