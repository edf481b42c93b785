"""Use cases: keep the credential checklist in step with the inventory and the operator.

``prefill_checklist`` is what `discover`, `ad`, `checklist prefill` and onboard's checklist
stage call; ``mark_rotations`` is what every rotation run (standalone or in onboard) calls;
``mark_item`` and ``add_item`` are the operator's decisions. Each writes its audit events
here, so a job does the same thing whoever started it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.core.errors import UsageError
from agent.core.logsetup import get_logger

if TYPE_CHECKING:
    from agent.context import AppContext
    from inventory.checklist import Item, PrefillResult

log = get_logger("checklist")


def prefill_checklist(
    app: AppContext,
    *,
    discover_run: int | None = None,
    ad_run: int | None = None,
    run_id: int | None = None,
) -> PrefillResult:
    """Add the items the inventory implies (recorded states kept), naming device accounts from
    the keyring's index; ``run_id`` is the run the new items are credited to."""
    from agent.core.secret_store import SecretStoreError
    from inventory import checklist

    rotation = app.config.rotation
    credentials: dict[str, list[str]] = {}
    try:
        for entry in app.secret_store.entries():
            if not rotation.accounts or entry.user in rotation.accounts:
                credentials.setdefault(entry.host, []).append(entry.user)
    except SecretStoreError as exc:
        log.warning("checklist: device accounts unknown (%s)", exc)
    from agent.ops.directory import directory_binding

    try:
        binding = directory_binding(app)
    except UsageError:
        binding = None
    held = credentials.get(binding.host, []) if binding is not None else []
    result = checklist.prefill(
        app.store,
        directory_credentials=held,
        discover_run=discover_run,
        ad_run=ad_run,
        credentials=credentials,
        rotatable_classes=rotation.classes,
        platforms=rotation.platforms or registered_platforms,
        manual_accounts=manual_accounts(),
        run_id=run_id,
    )
    app.audit.append(
        "checklist.prefill",
        app.config.client,
        "ok",
        run_id=run_id,
        detail={
            "added": len(result.added),
            "kept": result.kept,
            "discover_run": discover_run,
            "ad_run": ad_run,
        },
    )
    return result


def mark_rotations(app: AppContext, run_id: int) -> list[Item]:
    """Every password rotate run ``run_id`` changed: its checklist item becomes ``changed``,
    linked to the rotation record, and the decision is in the audit log like a manual mark."""
    from inventory import checklist

    marked = checklist.mark_run(app.store, run_id, app.operator)
    for item in marked:
        app.audit.append(
            "checklist.mark",
            f"checklist item {item.id}",
            item.state,
            run_id=run_id,
            detail={
                "kind": item.kind,
                "target": item.target,
                "account": item.account,
                "rotation_id": item.rotation_id,
                "decided_by": item.decided_by,
            },
        )
    return marked


def mark_item(
    app: AppContext, item_id: int, state: str, *, note: str | None = None, who: str | None = None
) -> tuple[Item, Item]:
    """An operator's decision on one item, with the audit event; returns (before, after)."""
    from inventory import checklist

    with app.lock("checklist mark"):
        before, after = checklist.mark(
            app.store, item_id, state, operator=app.operator, note=note, who=who
        )
        app.audit.append(
            "checklist.mark",
            f"checklist item {item_id}",
            state,
            detail={
                "kind": after.kind,
                "target": after.target,
                "account": after.account,
                "previous": before.state,
                "note": note,
                "decided_by": after.decided_by,
            },
        )
    return before, after


def add_item(app: AppContext, kind: str, target: str, account: str = "") -> Item:
    """A credential no scan could find, added by hand, with the audit event."""
    from inventory import checklist

    with app.lock("checklist add"):
        item = checklist.add(app.store, kind, target, account)
        app.audit.append(
            "checklist.add",
            f"checklist item {item.id}",
            "added",
            detail={"kind": kind, "target": item.target, "account": item.account},
        )
    return item


def registered_platforms() -> list[str]:
    """The platforms rotation can drive: the driver registry, kept by rotation/."""
    from rotation.drivers import DRIVERS

    return sorted(DRIVERS)


def manual_accounts() -> tuple[str, ...]:
    """Accounts rotation from the inventory never touches (an IOS enable secret)."""
    try:
        from rotation.drivers.cisco import ENABLE_ACCOUNT
    except ImportError:
        return ()
    return (ENABLE_ACCOUNT,)
