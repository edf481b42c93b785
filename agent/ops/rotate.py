"""Use cases: rotate and verify device passwords.

What `keyturn rotate`, `keyturn verify` and onboard's rotate stage run: the engine wired to
the store, the audit log and the keyring of one client. A rotate run also marks the
checklist items of the passwords it changed. Returns results; the commands print them.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.core.errors import ConfigError, UsageError
from agent.core.logsetup import get_logger
from agent.core.secret import json_default
from agent.ops.directory import directory_binding
from inventory import rotations as records
from inventory.store import RunStatus
from rotation.drivers.base import Target
from rotation.engine import RotationEngine
from rotation.hostkeys import HostKeyPins
from rotation.lifecycle import known_hosts_next_to
from rotation.results import (
    RotationResult,
    StepEvent,
    VerifyResult,
    rotation_exit_code,
    verify_exit_code,
)
from rotation.targets import (
    RID_ACCOUNT,
    NoTargets,
    account_names,
    ad_target,
    bind_account_last,
    load_targets_file,
    targets_from_inventory,
)

if TYPE_CHECKING:
    from agent.context import AppContext

log = get_logger("rotation")


@dataclass
class RotationRun:
    """One finished rotate or verify run: its results, exit code and JSON document."""

    run_id: int
    results: list[Any]
    exit_code: int
    document: dict[str, Any]


def resolve_targets(
    app: AppContext,
    targets_file: str | None,
    from_inventory: bool,
    classes: list[str] | None,
    account: str | Sequence[str] | None,
    from_directory: str | None = None,
    accounts: list[str] | None = None,
    allow_telnet: bool = False,
) -> list[Target]:
    """The devices to act on: ``--targets`` (else ``[rotation] targets``), or with
    ``from_inventory`` the latest discover run's hosts with a platform, each with the
    accounts ``[rotation] accounts`` names (else those the keyring holds for it), or with
    ``from_directory`` (service|privileged) the latest ``ad`` run's accounts of that kind,
    restricted to ``accounts`` when given, the bind account last. ``account``: one name or
    several (``--account`` repeated)."""
    cfg = app.config.rotation
    account = account_names(account) or None
    if from_directory:
        return directory_targets(app, from_directory, accounts or account or [])
    path = targets_file or (None if from_inventory else cfg.targets)
    if path:
        return load_targets_file(path, account, directory_binding(app))
    if not from_inventory:
        raise UsageError(
            "say which devices: --targets FILE.toml or --from-inventory (or --from-directory)"
        )
    wanted = classes or cfg.classes
    windows = [c for c in wanted if c in WINDOWS_CLASSES]
    return inventory_targets(app, wanted, windows, account, allow_telnet)


# Device classes whose hosts with SMB open are reached as kind windows_local.
WINDOWS_CLASSES = ("server", "workstation")
# Kinds whose stored credentials are not a network device's login.
ACCOUNT_KINDS = ("ad", "active_directory", "windows_local")

Stored = dict[str, list[tuple[str, str | None]]]


def _stored(app: AppContext) -> Stored:
    """host -> [(user, platform)] of every credential with a current password."""
    stored: Stored = {}
    for entry in app.secret_store.entries():
        if "current" in entry.versions:
            stored.setdefault(entry.host, []).append((entry.user, entry.platform))
    return stored


def inventory_targets(
    app: AppContext,
    device_classes: Sequence[str],
    windows_classes: Sequence[str],
    account: Sequence[str] | None = None,
    allow_telnet: bool = False,
    stored: Stored | None = None,
) -> list[Target]:
    """The latest discover run's hosts with a platform in ``device_classes``, and those of
    ``windows_classes`` with SMB open (kind windows_local), each with ``account``, else
    ``[rotation] accounts``, else the accounts the keyring holds for it of that kind: a
    Windows host's local accounts (stored as windows_local, or rid:N), a device's logins
    (never a domain or Windows account stored under the same address)."""
    cfg = app.config.rotation
    stored = _stored(app) if stored is None else stored
    devices = records.latest_platform_hosts(app.store, list(device_classes))
    windows = records.smb_hosts(app.store, list(windows_classes))
    if cfg.platforms:
        devices = [h for h in devices if h["platform"] in cfg.platforms]
        windows = windows if "windows_local" in cfg.platforms else []

    def device_accounts(ip: str) -> list[str]:
        return list(cfg.accounts) or [
            user for user, platform in stored.get(ip, []) if platform not in ACCOUNT_KINDS
        ]

    def windows_accounts(ip: str) -> list[str]:
        return list(cfg.accounts) or [
            user
            for user, platform in stored.get(ip, [])
            if platform == "windows_local" or RID_ACCOUNT.fullmatch(user)
        ]

    targets: list[Target] = []
    for hosts, accounts_for in ((devices, device_accounts), (windows, windows_accounts)):
        with contextlib.suppress(NoTargets):
            targets += targets_from_inventory(hosts, accounts_for, account, allow_telnet)
    if not targets:
        raise NoTargets(
            "the latest discover run lists no host with a known platform and a "
            "stored account (run keyturn discover, keyturn secrets import)"
        )
    return targets


def onboard_targets(app: AppContext) -> tuple[list[Target], list[RotationResult]]:
    """What onboard's rotate stage rotates, from the sources ``keyturn rotate`` reads:
    ``[rotation] targets`` when set (that file alone, as the operator wrote it); otherwise
    the devices ``rotate --from-inventory`` finds, the local accounts stored for the Windows
    servers and workstations with SMB open (``--class server,workstation --account
    rid:500``), and the latest ad run's service accounts whose password is stored
    (``--from-directory service``). The bound [ad] account goes last; computers LAPS
    manages come back as ``skipped`` results. UsageError when there is nothing at all."""
    cfg = app.config.rotation
    if cfg.targets:
        return laps_skips(app, resolve_targets(app, cfg.targets, False, None, None))
    stored = _stored(app)
    targets: list[Target] = []
    reasons: list[str] = []
    for source in (
        lambda: inventory_targets(app, cfg.classes, WINDOWS_CLASSES, stored=stored),
        lambda: _stored_directory_targets(app, stored),
    ):
        try:
            targets += source()
        except UsageError as exc:
            reasons.append(str(exc))
    if not targets:
        raise UsageError("; ".join(reasons))
    return laps_skips(app, bind_account_last(targets))


def _stored_directory_targets(app: AppContext, stored: Stored) -> list[Target]:
    """Kind ad: the latest ad run's service accounts (users with SPNs) whose password the
    keyring holds under the [ad] server; the others stay checklist items."""
    from inventory.directory import rotation_candidates

    binding = directory_binding(app)
    if binding is None:
        raise UsageError("no [ad] server and user: no domain account rotated")
    held = {user.lower() for user, _platform in stored.get(binding.host, [])}
    names = [sam for sam in rotation_candidates(app.store, "service") if sam.lower() in held]
    if not names:
        raise UsageError("no service account of the latest ad run has a stored password")
    return directory_targets(app, "service", names)


def laps_skips(app: AppContext, targets: list[Target]) -> tuple[list[Target], list[RotationResult]]:
    """Split off the windows_local targets whose computer LAPS manages (the latest ad run
    saw its LAPS expiry): LAPS rotates that password already; each becomes a ``skipped``
    result saying so."""
    from inventory.directory import laps_managed_names

    local = [t for t in targets if t.platform == "windows_local"]
    if not local:
        return targets, []
    managed = laps_managed_names(app.store)
    names = records.host_names(app.store, [t.host for t in local]) if managed else {}
    kept, skipped = [], []
    for target in targets:
        known = names.get(target.host, set()) if target.platform == "windows_local" else set()
        if known & managed:
            skipped.append(
                RotationResult(
                    target.host,
                    target.platform,
                    target.username,
                    status="skipped",
                    error="LAPS manages this computer's local Administrator (the latest ad "
                    "run saw its LAPS expiry): not rotated by keyturn",
                )
            )
        else:
            kept.append(target)
    return kept, skipped


def directory_targets(app: AppContext, which: str, names: list[str]) -> list[Target]:
    """Kind ``ad`` targets from the latest ``ad`` run (``service`` or ``privileged``)."""
    from inventory.directory import rotation_candidates

    if which not in ("service", "privileged"):
        raise UsageError(f"--from-directory {which!a}: say service or privileged")
    binding = directory_binding(app)
    if binding is None:
        raise UsageError("--from-directory needs [ad] server and [ad] user in the site config")
    found = rotation_candidates(app.store, which)
    if names:
        wanted = {n.lower() for n in names}
        found = [sam for sam in found if sam.lower() in wanted]
    if not found:
        raise UsageError(
            f"the latest ad run lists no enabled {which} account"
            + (" of those named by --account" if names else "")
            + " (run keyturn ad first)"
        )
    try:
        targets = [ad_target(sam, binding, "--from-directory") for sam in found]
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return bind_account_last(targets)


def _engine(
    app: AppContext,
    run_id: int,
    parallel: int | None,
    command: str,
    sink_extra: Callable[[StepEvent], None] | None = None,
) -> RotationEngine:
    """The engine with its one event sink: audit log first, then the rotation tables."""
    cfg = app.config.rotation
    recorder = records.RotationRecorder(app.store, run_id) if command == "rotate" else None

    def on_event(event: StepEvent) -> None:
        detail = {"platform": event.platform, **event.detail}
        level = logging.INFO if event.step == "result" else logging.DEBUG
        if log.isEnabledFor(level):  # (the JSON is not built for a line nobody keeps)
            log.log(
                level,
                "%s %s: %s %s",
                event.target,
                event.step,
                event.outcome,
                json.dumps(event.detail, sort_keys=True, default=json_default),
            )
        # The audit line and the step row together (one commit and one audit fsync for
        # the engine's whole batch of events).
        with app.store.transaction():
            app.audit.append(
                f"{command}.{event.step}", event.target, event.outcome, run_id=run_id, detail=detail
            )
            if recorder is not None and event.step == "result":
                recorder.finish(event.detail)
            elif recorder is not None:
                recorder.step(
                    event.host,
                    event.platform,
                    event.username,
                    event.step,
                    event.outcome,
                    event.detail,
                )
        if sink_extra is not None:
            sink_extra(event)

    return RotationEngine(
        app.secret_store,
        HostKeyPins(known_hosts_next_to(app.resolved_store_path)),
        app.config.scope_guard(),
        on_event=on_event,
        parallel=parallel or cfg.parallel,
        timeout=cfg.timeout,
        password_length=cfg.password_length,
        batch=lambda: _recording_batch(app),
    )


@contextlib.contextmanager
def _recording_batch(app: AppContext) -> Iterator[None]:
    """The events one drain delivers: one store commit, and one audit fsync and head
    update (made inside that commit, after the lines are on disk)."""
    with app.store.transaction(), app.audit.batch():
        yield


def rotate(
    app: AppContext,
    targets: list[Target],
    *,
    dry_run: bool = False,
    parallel: int | None = None,
    progress: Callable[[RotationResult], None] | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
    skipped: Sequence[RotationResult] = (),
) -> RotationRun:
    """Rotate every target under the client lock; the run, its steps and its JSON document
    land in the store, and each password changed marks its checklist item ``changed``."""
    from agent.ops.checklist import mark_rotations

    with app.lock("rotate"):
        store = app.store
        run_id = store.begin_run("rotate", app.operator, app.config.client)
        try:
            engine = _engine(app, run_id, parallel, "rotate", on_event)
            results = engine.rotate(targets, dry_run=dry_run, progress=progress) + list(skipped)
        except BaseException:
            store.finish_run(run_id, RunStatus.FAILED)
            raise
        code = rotation_exit_code(results)
        document = {"run_id": run_id, "dry_run": dry_run, "results": [r.as_dict() for r in results]}
        records.write_document(store, run_id, "rotate", document)
        summary = _count(r.status for r in results)
        status = {0: RunStatus.OK, 1: RunStatus.PARTIAL, 3: RunStatus.FAILED}[code]
        store.finish_run(run_id, status, summary)
        with store.transaction(), app.audit.batch():  # one commit and one fsync for all
            mark_rotations(app, run_id)
    return RotationRun(run_id, results, code, document)


def verify(
    app: AppContext,
    targets: list[Target],
    *,
    parallel: int | None = None,
    progress: Callable[[VerifyResult], None] | None = None,
) -> RotationRun:
    """Log in with every stored credential under the client lock; changes nothing."""
    with app.lock("verify"):
        store = app.store
        run_id = store.begin_run("verify", app.operator, app.config.client)
        try:
            results = _engine(app, run_id, parallel, "verify").verify(targets, progress=progress)
        except BaseException:
            store.finish_run(run_id, RunStatus.FAILED)
            raise
        code = verify_exit_code(results)
        document = {"run_id": run_id, "results": [r.as_dict() for r in results]}
        records.write_document(store, run_id, "verify", document)
        status = {0: RunStatus.OK, 1: RunStatus.FINDINGS, 3: RunStatus.FAILED}[code]
        store.finish_run(run_id, status, _count(r.status for r in results))
    return RotationRun(run_id, results, code, document)


def _count(statuses) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts


def plan_text(targets: list[Target]) -> str:
    """The plan shown before a rotation is approved: one line per password."""
    return "\n".join(
        f"  {t.label:40} {t.platform}"
        + (
            "  over TELNET: both passwords cross the network in clear"
            if t.transport == "telnet"
            else ""
        )
        for t in targets
    )
