"""keyturn onboard: discover -> directory audit -> rotation -> checklist -> report, one run.

Each stage is a call into its own package (agent/ops/stages.py adapts them); a stage that
fails is recorded as failed and the next stages still run, so one unreachable domain
controller never hides the network inventory. The summary is read back from the store, so
it shows what was recorded, not what a stage claimed.

Nothing here prints or prompts: the CLI passes ``progress`` and ``confirm`` callbacks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.core.errors import EXIT_FAILED, EXIT_FINDINGS, EXIT_OK, KeyturnError, UsageError
from agent.core.logsetup import get_logger
from agent.core.secret import scrub

if TYPE_CHECKING:
    from agent.context import AppContext
    from inventory.checklist import PrefillResult
    from inventory.store import Store

log = get_logger("onboard")

# ok: done, nothing to report; findings: done, with findings; partial: some targets failed;
# failed: the stage did not complete; skipped: not configured or declined; refused: not
# approved.
STAGE_STATUSES = ("ok", "findings", "partial", "failed", "skipped", "refused")
STAGES = ("discover", "ad", "rotate", "checklist", "report")

# (stage, event, payload): "start" (None), "tick" (a line of progress), "done" (StageOutcome)
Progress = Callable[[str, str, Any], None]
Confirm = Callable[[str], bool]


@dataclass
class StageOutcome:
    name: str
    status: str = "ok"
    detail: str = ""
    run_ids: list[int] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class OnboardResult:
    run_id: int
    stages: list[StageOutcome]
    summary: dict[str, Any]
    exit_code: int

    def stage(self, name: str) -> StageOutcome:
        return next(s for s in self.stages if s.name == name)


@dataclass
class Context:
    """What one onboard run knows as it goes; stages read earlier stages' outcomes."""

    app: AppContext
    run_id: int
    rotate: bool
    approved: bool
    confirm: Confirm | None
    progress: Progress
    outcomes: dict[str, StageOutcome] = field(default_factory=dict)
    current: str = ""

    def tick(self, text: str) -> None:
        """A stage's own progress (sweep counts, devices done) for the terminal."""
        self.progress(self.current, "tick", text)


def check_request(app: AppContext, *, rotate: bool, yes: bool) -> bool:
    """Whether this run rotates; refuses at once (exit 2) what a non-interactive run could
    only refuse after an hour of scanning: an unapproved rotation."""
    wanted = rotate or app.config.rotation.enabled
    if wanted and not yes and not app.interactive:
        raise UsageError(
            "rotation needs approval: this run cannot ask (no terminal or --non-interactive); "
            "pass --yes to approve the plan, or run without --rotate"
        )
    return wanted


def run(
    app: AppContext,
    *,
    rotate: bool = False,
    yes: bool = False,
    progress: Progress | None = None,
    confirm: Confirm | None = None,
) -> OnboardResult:
    """The whole onboarding, under the client's store lock; never raises for a stage."""
    from agent.ops import stages

    wanted = check_request(app, rotate=rotate, yes=yes)
    report = progress or (lambda *_args: None)
    with app.lock("onboard"):
        stages.preflight(app)
        app.audit.append("onboard.start", app.config.client, "started", detail={"rotate": wanted})
        store = app.store
        run_id = store.begin_run("onboard", app.operator, app.config.client)
        ctx = Context(app, run_id, wanted, yes, confirm, report)
        try:
            for name in STAGES:
                ctx.current = name
                report(name, "start", None)
                outcome = _run_stage(ctx, name, getattr(stages, f"stage_{name}"))
                ctx.outcomes[name] = outcome
                report(name, "done", outcome)
        except BaseException:
            store.finish_run(run_id, "failed")
            raise
        outcomes = [ctx.outcomes[name] for name in STAGES]
        summary = summarize(store, outcomes, run_id)
        code = exit_code(outcomes, summary)
        status = {EXIT_OK: "ok", EXIT_FINDINGS: "findings"}.get(code, "partial")
        if all(o.status == "failed" for o in outcomes[:2]):
            status = "failed"
        store.finish_run(run_id, status, summary)
        app.audit.append(
            "onboard.finish",
            app.config.client,
            status,
            run_id=run_id,
            detail={"stages": {o.name: o.status for o in outcomes}, "exit_code": code},
        )
    return OnboardResult(run_id, outcomes, summary, code)


def _run_stage(ctx: Context, name: str, fn: Callable[[Context], StageOutcome]) -> StageOutcome:
    store = ctx.app.store
    before = _last_run_id(store)
    started = time.monotonic()
    try:
        outcome = fn(ctx)
    except KeyturnError as exc:
        outcome = StageOutcome(name, "failed", scrub(str(exc)))
    except Exception as exc:  # one stage's bug must not hide the other stages' results
        log.exception("onboard stage %s crashed", name)
        outcome = StageOutcome(name, "failed", scrub(f"{type(exc).__name__}: {exc}"))
    outcome.seconds = round(time.monotonic() - started, 2)
    # Runs the stage's own package recorded (a stage may also write into the onboard run).
    new = [r for r in _run_ids_after(store, before) if r != ctx.run_id]
    outcome.run_ids = sorted(set(outcome.run_ids) | set(new))
    return outcome


def exit_code(outcomes: list[StageOutcome], summary: dict[str, Any]) -> int:
    """3 when a stage failed, 1 for findings or partial failures, else 0."""
    if any(o.status == "failed" for o in outcomes):
        return EXIT_FAILED
    if any(o.status in ("findings", "partial", "refused") for o in outcomes):
        return EXIT_FINDINGS
    if sum(summary["findings"].values()) or summary["rotations"].get("failed"):
        return EXIT_FINDINGS
    return EXIT_OK


# -- the summary, read back from the store ---------------------------------------------------
def summarize(store: Store, outcomes: list[StageOutcome], run_id: int) -> dict[str, Any]:
    by_name = {o.name: o for o in outcomes}

    def runs(*names: str) -> list[int]:
        return sorted({run_id, *(r for n in names for r in by_name[n].run_ids)})

    db = store.db
    discover_runs = runs("discover")
    hosts = _grouped(
        db,
        "SELECT device_class AS k, COUNT(*) AS n FROM host_observations"
        f" WHERE run_id = {max(discover_runs)} GROUP BY device_class",
    )
    ad_run = max(runs("ad"))
    privileged = db.execute(
        "SELECT COUNT(DISTINCT member_sid) FROM group_memberships"
        " WHERE run_id = ? AND member_kind NOT IN ('group', 'foreign')",
        (ad_run,),
    ).fetchone()[0]
    dialin = db.execute(
        "SELECT COUNT(*) FROM directory_objects WHERE run_id = ?"
        " AND json_extract(attributes, '$.dialin') = 1",
        (ad_run,),
    ).fetchone()[0]
    rotate_runs = ",".join(str(r) for r in runs("rotate"))
    rotations = _grouped(
        db, f"SELECT status AS k, COUNT(*) AS n FROM rotations WHERE run_id IN ({rotate_runs})"
        " GROUP BY status"
    )  # fmt: skip
    finding_runs = ",".join(str(r) for r in runs("discover", "ad", "rotate"))
    findings = _grouped(
        db, f"SELECT severity AS k, COUNT(*) AS n FROM findings WHERE run_id IN ({finding_runs})"
        " GROUP BY severity"
    )  # fmt: skip
    from inventory import checklist

    counts = checklist.counts(store)
    return {
        "stages": {o.name: o.status for o in outcomes},
        "hosts": sum(hosts.values()),
        "hosts_by_class": hosts,
        "privileged_accounts": privileged,
        "dialin_allowed": dialin,
        "rotations": rotations,
        "findings": findings,
        "checklist": {
            "open": counts["inherited"],
            "changed": counts["changed"],
            "not_applicable": counts["not_applicable"],
            "accepted_risk": counts["accepted_risk"],
            "added": by_name["checklist"].data.get("added", 0),
        },
        "report": by_name["report"].data.get("paths", []),
        "runs": {o.name: o.run_ids for o in outcomes},
    }


def _grouped(db: Any, query: str) -> dict[str, int]:
    return {row["k"]: row["n"] for row in db.execute(query)}


def _last_run_id(store: Store) -> int:
    return int(store.db.execute("SELECT COALESCE(MAX(id), 0) FROM runs").fetchone()[0])


def _run_ids_after(store: Store, after: int) -> list[int]:
    return [row[0] for row in store.db.execute("SELECT id FROM runs WHERE id > ?", (after,))]


# -- checklist -------------------------------------------------------------------------------
def prefill_checklist(
    app: AppContext,
    *,
    discover_run: int | None = None,
    ad_run: int | None = None,
    run_id: int | None = None,
) -> PrefillResult:
    """Prefill from the inventory, naming device accounts from the keyring's index."""
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
    return checklist.prefill(
        app.store,
        discover_run=discover_run,
        ad_run=ad_run,
        credentials=credentials,
        rotatable_classes=rotation.classes,
        platforms=rotation.platforms or None,
        manual_accounts=_manual_accounts(),
        run_id=run_id,
    )


def _manual_accounts() -> tuple[str, ...]:
    try:
        from rotation.drivers.cisco import ENABLE_ACCOUNT
    except ImportError:
        return ()
    return (ENABLE_ACCOUNT,)  # rotation from the inventory never touches an enable secret


def summary_document(result: OnboardResult) -> dict[str, Any]:
    """What ``onboard --json`` writes."""
    return {"run_id": result.run_id, "exit_code": result.exit_code, **result.summary}
