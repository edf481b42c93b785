"""The onboard stages: thin adapters from agent/onboard.py onto each package's own API.

Each ``stage_NAME(ctx) -> StageOutcome`` calls one package's domain function, which records
its own run in the store; the orchestrator finds those runs and reads the summary back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from agent.core.errors import UsageError
from agent.onboard import StageOutcome

if TYPE_CHECKING:
    from agent.context import AppContext
    from agent.onboard import Context


def preflight(app: AppContext) -> None:
    """Fail within seconds on what would otherwise fail an hour in: a locked keyring, or a
    directory audit without a bind password (onboard never prompts for one mid-run)."""
    app.secret_store  # noqa: B018 - opening it unlocks the keyring or raises
    if _ad_configured(app) and not app.config.ad.kerberos:
        _ad_password(app, _ad_request(app))


def stage_discover(ctx: Context) -> StageOutcome:
    from agent.core.secret import Secret
    from agent.discovery import Options, run_discovery

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
    from dataclasses import replace

    from agent.directory import run_ad_audit

    app = ctx.app
    request = _ad_request(app)
    if request.method != "kerberos":
        request = replace(request, password=_ad_password(app, request))
    document = run_ad_audit(
        app.store,
        request,
        app.config.scope_guard(),
        operator=app.operator,
        client=app.config.client,
    )
    domain = document["domain"]["dns_name"]
    findings = document["findings"]
    app.audit.append(
        "ad.audit",
        domain,
        "ok",
        run_id=document["run_id"],
        detail={"server": document["ldap"]["server"], "findings": len(findings)},
    )
    counts = document.get("counts", {})
    return StageOutcome(
        "ad",
        "findings" if findings else "ok",
        f"{domain}: {counts.get('privileged_accounts', '?')} privileged accounts, "
        f"{len(findings)} finding(s)",
        run_ids=[document["run_id"]],
    )


def stage_rotate(ctx: Context) -> StageOutcome:
    if not ctx.rotate:
        return StageOutcome("rotate", "skipped", "not requested (--rotate or [rotation] enabled)")
    from rotation import service

    app = ctx.app
    targets_file = app.config.rotation.targets
    try:
        targets = service.resolve_targets(app, targets_file, not targets_file, None, None)
    except UsageError as exc:
        return StageOutcome("rotate", "skipped", f"nothing to rotate: {exc}")
    plan = "\n".join(f"  {t.label:40} {t.platform}" for t in targets)
    if not ctx.approved:
        question = f"Rotation plan: {len(targets)} password(s)\n{plan}"
        if ctx.confirm is None:
            return StageOutcome("rotate", "refused", "not approved (--yes) and cannot ask")
        if not ctx.confirm(question):
            return StageOutcome("rotate", "skipped", "declined by the operator")
    outcome = service.rotate(
        app, targets, progress=lambda r: ctx.tick(f"{r.username}@{r.host}: {r.status}")
    )
    counts: dict[str, int] = {}
    for result in outcome.results:
        counts[result.status] = counts.get(result.status, 0) + 1
    failed = [r for r in outcome.results if r.status not in ("rotated", "unchanged")]
    detail = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
    if failed:
        detail += f"; first problem: {failed[0].username}@{failed[0].host}: {failed[0].error}"
    return StageOutcome(
        "rotate",
        {0: "ok", 1: "partial"}.get(outcome.exit_code, "failed"),
        detail,
        run_ids=[outcome.run_id],
    )


def stage_checklist(ctx: Context) -> StageOutcome:
    from agent.onboard import prefill_checklist
    from inventory import checklist

    app, store = ctx.app, ctx.app.store
    discover_run = _newest_with(store, "host_observations", _runs(ctx, "discover"))
    ad_run = _newest_with(store, "directory_objects", _runs(ctx, "ad"))
    result = prefill_checklist(app, discover_run=discover_run, ad_run=ad_run, run_id=ctx.run_id)
    marked = sum(
        len(checklist.mark_run(store, run_id, app.operator)) for run_id in _runs(ctx, "rotate")
    )
    counts = checklist.counts(store)
    return StageOutcome(
        "checklist",
        "ok",
        f"{len(result.added)} added, {result.kept} already listed, {marked} marked changed by "
        f"rotation; {counts['inherited']} open",
        data={"added": len(result.added), "marked_rotated": marked},
    )


def stage_report(ctx: Context) -> StageOutcome:
    import reports

    app = ctx.app
    config = app.config
    out_dir = Path(config.report.out_dir or f"keyturn-report-{config.client}").expanduser()
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


def _ad_configured(app: AppContext) -> bool:
    return bool(app.config.ad.server or app.config.ad.domain)


def _ad_request(app: AppContext):
    """The same request `keyturn ad` builds from the [ad] table (no flags in onboard)."""
    from agent.directory import AdRequest

    ad = app.config.ad
    if not ad.user and not ad.kerberos:
        raise UsageError("[ad] needs user (the bind account) for the directory audit")
    return AdRequest(
        user=ad.user or "",
        domain=None if ad.server else ad.domain,
        server=ad.server,
        transport=ad.transport,
        allow_plain=ad.transport == "ldap",  # chosen explicitly in the site config
        ca_file=None if ad.tls_insecure else ad.ca_file,
        tls_insecure=ad.tls_insecure,
        method="kerberos" if ad.kerberos else "simple",
        stale_days=ad.stale_days,
    )


def _ad_password(app: AppContext, request):
    """The bind password from [ad] password_env, else the keyring entry `keyturn ad` uses."""
    from agent.core.secret import Secret

    ad = app.config.ad
    if ad.password_env and os.environ.get(ad.password_env):
        return Secret(os.environ[ad.password_env])
    stored = app.secret_store.get(request.keyring_host, request.user)
    if stored is None:
        where = f"${ad.password_env} or " if ad.password_env else ""
        raise UsageError(
            f"no bind password for the directory audit ({request.user}@{request.keyring_host}): "
            f"set {where}store it with 'keyturn secrets', or remove [ad]"
        )
    return stored


def _runs(ctx: Context, stage: str) -> list[int]:
    outcome = ctx.outcomes.get(stage)
    return sorted({ctx.run_id, *(outcome.run_ids if outcome else [])})


def _newest_with(store, table: str, run_ids: list[int]) -> int | None:
    marks = ",".join("?" * len(run_ids))
    row = store.db.execute(
        f"SELECT MAX(run_id) FROM {table} WHERE run_id IN ({marks})", run_ids
    ).fetchone()
    return row[0]
