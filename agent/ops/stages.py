"""The onboard stages: each calls the same use case its standalone command calls.

``stage_NAME(run) -> StageOutcome`` runs one use case (agent/ops/discover.py, directory.py,
rotate.py, checklist.py, report.py) and turns its result into a stage line; the use case
records its own run, audit events and checklist effects, so `onboard` and the commands
cannot drift apart. agent/onboard.py sequences the stages and reads the summary back.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.core.errors import UsageError

if TYPE_CHECKING:
    from agent.context import AppContext

# topology right after discover: it reads the hosts discovery just recorded; review reads the
# firewalls with the credentials found before any rotation changes them.
STAGES = ("discover", "topology", "review", "ad", "web", "rotate", "checklist", "report")

# (stage, event, payload): "start" (None), "tick" (a line of progress), "done" (StageOutcome)
Progress = Callable[[str, str, Any], None]
Confirm = Callable[[str], bool]


class StageStatus(enum.StrEnum):
    OK = "ok"  # done, nothing to report
    FINDINGS = "findings"  # done, with findings
    PARTIAL = "partial"  # some targets failed
    FAILED = "failed"  # the stage did not complete
    SKIPPED = "skipped"  # not configured or declined
    REFUSED = "refused"  # not approved


@dataclass
class StageOutcome:
    name: str
    status: str = StageStatus.OK
    detail: str = ""
    run_ids: list[int] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class OnboardRun:
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

    def runs(self, stage: str) -> list[int]:
        """The onboard run and the runs ``stage`` recorded."""
        outcome = self.outcomes.get(stage)
        return sorted({self.run_id, *(outcome.run_ids if outcome else [])})


def preflight(app: AppContext) -> None:
    """Fail within seconds on what would otherwise fail an hour in: a locked keyring, or a
    directory audit without a bind password (onboard never prompts for one mid-run)."""
    from agent.ops.directory import ad_configured, onboard_request

    app.secret_store  # noqa: B018 - opening it unlocks the keyring or raises
    if ad_configured(app):
        onboard_request(app)


def stage_discover(run: OnboardRun) -> StageOutcome:
    from agent.ops import discover

    def progress(stage: str, done: int, total: int, found: int) -> None:
        run.tick(f"{stage}: {done}/{total}, {found} found")

    document = discover.discover(run.app, discover.discover_options(run.app), progress=progress)
    detail = discover.summary_line(document)
    if document["errors"]:
        detail += f"; {len(document['errors'])} error(s): {document['errors'][0].splitlines()[0]}"
    return StageOutcome(
        "discover",
        StageStatus.PARTIAL if document["errors"] else StageStatus.OK,
        detail,
        run_ids=[document["run_id"]],
    )


def stage_topology(run: OnboardRun) -> StageOutcome:
    from agent.ops import topology

    devices = topology.devices_to_map(run.app)
    if not devices:
        return StageOutcome(
            "topology", StageStatus.SKIPPED, "no stored credentials for a switch or router to read"
        )
    document = topology.map_topology(run.app, devices=devices)
    detail = topology.summary_line(document)
    if document["errors"]:
        detail += f"; {len(document['errors'])} error(s): {document['errors'][0]}"
    return StageOutcome(
        "topology",
        StageStatus.PARTIAL if document["errors"] else StageStatus.OK,
        detail,
        run_ids=[document["run_id"]],
    )


def stage_review(run: OnboardRun) -> StageOutcome:
    """`keyturn review` of every firewall with a stored credential (read-only); the
    suggested fixes and CSV rule bases go next to the reports. Skipped without one."""
    from pathlib import Path

    from agent.ops import review

    app = run.app
    targets = review.firewalls_to_review(app)
    if not targets:
        return StageOutcome(
            "review", StageStatus.SKIPPED, "no stored credentials for a firewall to review"
        )
    document = review.review_devices(app, targets)
    out = Path(app.config.report.out_dir or ".") / f"keyturn-review-{app.config.client}"
    paths = [str(p) for p in review.export(document, out)]
    detail = review.summary_line(document)
    if document["errors"]:
        detail += f"; {len(document['errors'])} error(s): {document['errors'][0]}"
    findings = any(d["findings"] for d in document["devices"])
    status = (
        StageStatus.PARTIAL
        if document["errors"]
        else StageStatus.FINDINGS
        if findings
        else StageStatus.OK
    )
    return StageOutcome(
        "review", status, detail, run_ids=[document["run_id"]], data={"paths": paths}
    )


def stage_ad(run: OnboardRun) -> StageOutcome:
    from agent.ops import directory

    if not directory.ad_configured(run.app):
        return StageOutcome(
            "ad", StageStatus.SKIPPED, "no [ad] server or domain in the site config"
        )
    document = directory.audit_directory(run.app, directory.onboard_request(run.app))
    return StageOutcome(
        "ad",
        StageStatus.FINDINGS if document["findings"] else StageStatus.OK,
        directory.summary_line(document),
        run_ids=[document["run_id"]],
    )


def stage_web(run: OnboardRun) -> StageOutcome:
    """`keyturn dns`: domains, mail security, AD zones and the certificates of the services
    discover just found. Skipped without a [dns] table naming domains or resolvers."""
    from agent.ops import dns

    settings = run.app.config.dns
    if not settings.domains and not settings.nameservers:
        return StageOutcome("web", StageStatus.SKIPPED, "no [dns] domains or nameservers")
    document = dns.check_dns(run.app, dns.dns_request(run.app))
    return StageOutcome(
        "web",
        StageStatus.FINDINGS if document["findings"] else StageStatus.OK,
        dns.summary_line(document),
        run_ids=[document["run_id"]],
    )


def stage_rotate(run: OnboardRun) -> StageOutcome:
    if not run.rotate:
        return StageOutcome(
            "rotate", StageStatus.SKIPPED, "not requested (--rotate or [rotation] enabled)"
        )
    from agent.ops import rotate

    app = run.app
    try:
        targets, skipped = rotate.onboard_targets(app)
    except UsageError as exc:
        return StageOutcome("rotate", StageStatus.SKIPPED, f"nothing to rotate: {exc}")
    if not run.approved:
        question = f"Rotation plan: {len(targets)} password(s)\n{rotate.plan_text(targets)}"
        if run.confirm is None:
            return StageOutcome(
                "rotate", StageStatus.REFUSED, "not approved (--yes) and cannot ask"
            )
        if not run.confirm(question):
            return StageOutcome("rotate", StageStatus.SKIPPED, "declined by the operator")
    outcome = rotate.rotate(
        app,
        targets,
        progress=lambda r: run.tick(f"{r.username}@{r.host}: {r.status}"),
        skipped=skipped,
    )
    counts: dict[str, int] = {}
    for result in outcome.results:
        counts[result.status] = counts.get(result.status, 0) + 1
    failed = [r for r in outcome.results if r.status not in ("rotated", "unchanged", "skipped")]
    detail = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
    if failed:
        detail += f"; first problem: {failed[0].username}@{failed[0].host}: {failed[0].error}"
    return StageOutcome(
        "rotate",
        {0: StageStatus.OK, 1: StageStatus.PARTIAL}.get(outcome.exit_code, StageStatus.FAILED),
        detail,
        run_ids=[outcome.run_id],
        data={"marked_changed": counts.get("rotated", 0)},
    )


def stage_checklist(run: OnboardRun) -> StageOutcome:
    """`checklist prefill` from this run's inventory: discover and ad prefilled already, so
    this adds only what they could not know yet (the keyring's accounts after a rotation)."""
    from agent.ops.checklist import prefill_checklist
    from inventory import checklist

    app, store = run.app, run.app.store
    discover_run = checklist.newest_run_with(store, "host_observations", run.runs("discover"))
    ad_run = checklist.newest_run_with(store, "directory_objects", run.runs("ad"))
    result = prefill_checklist(app, discover_run=discover_run, ad_run=ad_run, run_id=run.run_id)
    rotated = run.outcomes.get("rotate")
    marked = rotated.data.get("marked_changed", 0) if rotated else 0
    # What this onboarding added, whichever use case added it (discover and ad prefill too).
    added = checklist.created_in(store, sorted({*run.runs("discover"), *run.runs("ad")}))
    counts = checklist.counts(store)
    return StageOutcome(
        "checklist",
        StageStatus.OK,
        f"{added} added, {result.kept} already listed, {marked} marked changed by "
        f"rotation; {counts['inherited']} open",
        data={"added": added, "marked_rotated": marked},
    )


def stage_report(run: OnboardRun) -> StageOutcome:
    from agent.ops.report import write_report

    written = write_report(run.app)
    paths = [str(p) for p in written.paths]
    return StageOutcome("report", StageStatus.OK, ", ".join(paths), data={"paths": paths})
