"""The onboard stages: thin adapters from agent/onboard.py onto each package's own API.

Each ``stage_NAME(ctx) -> StageOutcome`` calls one package's domain function, which records
its own run in the store; the orchestrator finds those runs and reads the summary back.
A package this installation lacks makes its stage ``unavailable`` (exit 3), never faked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from agent.errors import UsageError
from agent.onboard import StageOutcome

if TYPE_CHECKING:
    from agent.context import AppContext
    from agent.onboard import Context


def preflight(app: AppContext) -> None:
    """Fail within seconds on what would otherwise fail (or hang) an hour in: a locked
    keyring, or a directory audit without a bind password on a run that cannot ask."""
    secrets = app.secret_store  # opening it unlocks the keyring or raises
    ad = app.config.ad
    if not _ad_configured(app) or ad.kerberos or app.interactive:
        return
    if ad.password_env and os.environ.get(ad.password_env):
        return
    if ad.user and any(secrets.get(host, ad.user) for host in _ad_hosts(app)):
        return
    where = f"${ad.password_env} or " if ad.password_env else ""
    raise UsageError(
        f"no bind password for the directory audit ({ad.user or '[ad] user unset'}): "
        f"set {where}store it with 'keyturn secrets' under {_ad_hosts(app)[0]}, or remove [ad]"
    )


def stage_discover(ctx: Context) -> StageOutcome:
    try:
        from agent.discovery import Options, run_discovery
    except ImportError as exc:
        return _unavailable("discover", f"discovery is not installed ({exc})")
    from agent.secret import Secret

    app = ctx.app
    config = app.config
    settings = config.discover
    options = Options(
        iface=settings.iface,
        rate=settings.rate,
        ports=settings.ports,
        nmap=settings.nmap,
        communities=[Secret(c) for c in settings.snmp_communities],
    )

    def progress(stage: str, done: int, total: int, found: int) -> None:
        ctx.tick(f"{stage}: {done}/{total}, {found} found")

    document = run_discovery(
        app.store,
        config.scope_guard(),
        options,
        operator=app.operator,
        client=config.client,
        progress=progress,
    )
    diff = document.get("diff") or {}
    detail = f"{len(document['hosts'])} hosts" + (
        f"; {len(diff.get('new', []))} new, {len(diff.get('gone', []))} gone, "
        f"{len(diff.get('changed', []))} changed since run {diff['previous_run_id']}"
        if diff.get("previous_run_id")
        else ""
    )
    if document["errors"]:
        detail += f"; {len(document['errors'])} error(s): {document['errors'][0].splitlines()[0]}"
    return StageOutcome(
        "discover",
        "partial" if document["errors"] else "ok",
        detail,
        run_ids=[document["run_id"]],
    )


def stage_ad(ctx: Context) -> StageOutcome:
    if not _ad_configured(ctx.app):
        return StageOutcome("ad", "skipped", "no [ad] server or domain in the site config")
    return _unavailable("ad", "agent.directory has no store-writing entry point yet")


def stage_rotate(ctx: Context) -> StageOutcome:
    if not ctx.rotate:
        return StageOutcome("rotate", "skipped", "not requested (--rotate or [rotation] enabled)")
    return _unavailable("rotate", "rotation.engine is not in this installation yet")


def stage_checklist(ctx: Context) -> StageOutcome:
    from agent.onboard import prefill_checklist
    from inventory import checklist

    app, store = ctx.app, ctx.app.store
    discover_run = _newest_with(store, "host_observations", _runs(ctx, "discover"))
    ad_run = _newest_with(store, "directory_objects", _runs(ctx, "ad"))
    result = prefill_checklist(app, discover_run=discover_run, ad_run=ad_run, run_id=ctx.run_id)
    marked = 0
    rotate_runs = _runs(ctx, "rotate")
    if rotate_runs:
        rows = store.db.execute(
            "SELECT id, host, username FROM rotations WHERE status = 'rotated'"
            f" AND run_id IN ({','.join('?' * len(rotate_runs))})",
            rotate_runs,
        ).fetchall()
        for row in rows:
            checklist.mark_rotated(store, row["host"], row["username"], row["id"], app.operator)
            marked += 1
    counts = checklist.counts(store)
    return StageOutcome(
        "checklist",
        "ok",
        f"{len(result.added)} added, {result.kept} already listed, {marked} marked changed by "
        f"rotation; {counts['inherited']} open",
        data={"added": len(result.added), "marked_rotated": marked},
    )


def stage_report(ctx: Context) -> StageOutcome:
    try:
        import reports
    except ImportError:
        return _unavailable("report", "the reports package is missing")
    app = ctx.app
    config = app.config
    out_dir = Path(config.report.out_dir or f"keyturn-report-{config.client}")
    _report, paths = reports.generate(
        app.store,
        client=config.client,
        operator=app.operator,
        formats=config.report.formats,
        out_dir=out_dir,
        audit=app.audit.verify(),
    )
    return StageOutcome(
        "report",
        "ok",
        ", ".join(str(p) for p in paths),
        data={"paths": [str(p) for p in paths]},
    )


def _unavailable(name: str, why: str) -> StageOutcome:
    return StageOutcome(name, "unavailable", why)


def _ad_configured(app: AppContext) -> bool:
    return bool(app.config.ad.server or app.config.ad.domain)


def _ad_hosts(app: AppContext) -> list[str]:
    """Where a bind password may be filed: the DC as configured, its host part, the domain."""
    ad = app.config.ad
    hosts = [ad.server, ad.server.rsplit(":", 1)[0] if ad.server else None, ad.domain]
    return [h for h in dict.fromkeys(hosts) if h]


def _runs(ctx: Context, stage: str) -> list[int]:
    outcome = ctx.outcomes.get(stage)
    return sorted({ctx.run_id, *(outcome.run_ids if outcome else [])})


def _newest_with(store, table: str, run_ids: list[int]) -> int | None:
    marks = ",".join("?" * len(run_ids))
    row = store.db.execute(
        f"SELECT MAX(run_id) FROM {table} WHERE run_id IN ({marks})", run_ids
    ).fetchone()
    return row[0]
