"""keyturn onboard: discover -> directory audit -> rotation -> checklist -> report, one run.

Each stage runs the use case its standalone command runs (agent/ops/stages.py), so onboard
records the same runs, audit events and checklist effects as the commands would; a stage
that fails is recorded as failed and the next stages still run, so one unreachable domain
controller never hides the network inventory. The summary is read back from the store, so
it shows what was recorded, not what a stage claimed.

Nothing here prints or prompts: the CLI passes ``progress`` and ``confirm`` callbacks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.core.errors import EXIT_FAILED, EXIT_FINDINGS, EXIT_OK, KeyturnError, UsageError
from agent.core.logsetup import get_logger
from agent.core.secret import scrub
from agent.ops.stages import STAGES, Confirm, OnboardRun, Progress, StageOutcome, StageStatus
from inventory.store import RunStatus

if TYPE_CHECKING:
    from agent.context import AppContext
    from inventory.store import Store

__all__ = ["STAGES", "OnboardResult", "StageOutcome", "check_request", "exit_code", "run"]

log = get_logger("onboard")


@dataclass
class OnboardResult:
    run_id: int
    stages: list[StageOutcome]
    summary: dict[str, Any]
    exit_code: int

    def stage(self, name: str) -> StageOutcome:
        return next(s for s in self.stages if s.name == name)


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
        onboarding = OnboardRun(app, run_id, wanted, yes, confirm, report)
        try:
            for name in STAGES:
                onboarding.current = name
                report(name, "start", None)
                outcome = _run_stage(onboarding, name, getattr(stages, f"stage_{name}"))
                onboarding.outcomes[name] = outcome
                report(name, "done", outcome)
        except BaseException:
            store.finish_run(run_id, RunStatus.FAILED)
            raise
        outcomes = [onboarding.outcomes[name] for name in STAGES]
        summary = summarize(store, outcomes, run_id)
        code = exit_code(outcomes, summary)
        status = {EXIT_OK: RunStatus.OK, EXIT_FINDINGS: RunStatus.FINDINGS}.get(
            code, RunStatus.PARTIAL
        )
        if all(o.status == StageStatus.FAILED for o in outcomes if o.name in ("discover", "ad")):
            status = RunStatus.FAILED
        store.finish_run(run_id, status, summary)
        app.audit.append(
            "onboard.finish",
            app.config.client,
            status,
            run_id=run_id,
            detail={"stages": {o.name: o.status for o in outcomes}, "exit_code": code},
        )
    return OnboardResult(run_id, outcomes, summary, code)


def _run_stage(
    onboarding: OnboardRun, name: str, fn: Callable[[OnboardRun], StageOutcome]
) -> StageOutcome:
    from inventory.queries import last_run_id, run_ids_after

    store = onboarding.app.store
    before = last_run_id(store)
    started = time.monotonic()
    try:
        outcome = fn(onboarding)
    except KeyturnError as exc:
        outcome = StageOutcome(name, StageStatus.FAILED, scrub(str(exc)))
    except Exception as exc:  # one stage's bug must not hide the other stages' results
        log.exception("onboard stage %s crashed", name)
        outcome = StageOutcome(name, StageStatus.FAILED, scrub(f"{type(exc).__name__}: {exc}"))
    outcome.seconds = round(time.monotonic() - started, 2)
    # Runs the stage's own use case recorded (a stage may also write into the onboard run).
    new = [r for r in run_ids_after(store, before) if r != onboarding.run_id]
    outcome.run_ids = sorted(set(outcome.run_ids) | set(new))
    return outcome


def exit_code(outcomes: list[StageOutcome], summary: dict[str, Any]) -> int:
    """3 when a stage failed, 1 for findings or partial failures, else 0."""
    if any(o.status == StageStatus.FAILED for o in outcomes):
        return EXIT_FAILED
    unclean = (StageStatus.FINDINGS, StageStatus.PARTIAL, StageStatus.REFUSED)
    if any(o.status in unclean for o in outcomes):
        return EXIT_FINDINGS
    if sum(summary["findings"].values()) or summary["rotations"].get("failed"):
        return EXIT_FINDINGS
    return EXIT_OK


# -- the summary, read back from the store ---------------------------------------------------
def summarize(store: Store, outcomes: list[StageOutcome], run_id: int) -> dict[str, Any]:
    from inventory import checklist, queries

    by_name = {o.name: o for o in outcomes}

    def runs(*names: str) -> list[int]:
        return sorted({run_id, *(r for n in names for r in by_name[n].run_ids)})

    counts = queries.onboard_counts(
        store,
        discover_run=max(runs("discover")),
        ad_run=max(runs("ad")),
        rotate_runs=runs("rotate"),
        finding_runs=runs("discover", "ad", "rotate"),
    )
    states = checklist.counts(store)
    return {
        "stages": {o.name: o.status for o in outcomes},
        **counts,
        "checklist": {
            "open": states["inherited"],
            "changed": states["changed"],
            "not_applicable": states["not_applicable"],
            "accepted_risk": states["accepted_risk"],
            "added": by_name["checklist"].data.get("added", 0),
        },
        "report": by_name["report"].data.get("paths", []),
        "runs": {o.name: o.run_ids for o in outcomes},
    }


def summary_document(result: OnboardResult) -> dict[str, Any]:
    """What ``onboard --json`` writes."""
    return {"run_id": result.run_id, "exit_code": result.exit_code, **result.summary}
