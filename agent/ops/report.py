"""Use case: write the auditor reports from the store (never a rescan) and log that it did.

`keyturn report` and onboard's report stage both call :func:`write_report`; the folder
default (``[report] out_dir``, else ./keyturn-report-<client>) is decided here only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.core.errors import KeyturnError, UsageError

if TYPE_CHECKING:
    from agent.context import AppContext
    from inventory.audit import Verdict


@dataclass
class ReportRun:
    """The files written and the audit log's verdict (None: the log could not be checked)."""

    paths: list[Path]
    verdict: Verdict | None
    unverified: str | None = None  # why the log could not be checked


def report_folder(app: AppContext, out_dir: str | None = None) -> Path:
    """``--out``, else ``[report] out_dir``, else ./keyturn-report-<client> (docs/config.md)."""
    config = app.config
    return Path(out_dir or config.report.out_dir or f"keyturn-report-{config.client}").expanduser()


def write_report(
    app: AppContext,
    *,
    formats: Sequence[str] = (),
    out_dir: str | None = None,
    run_id: int | None = None,
    diff_from: int | None = None,
) -> ReportRun:
    """Write the reports as of ``run_id`` (default: the newest runs) and the ``report.write``
    audit event. A log that cannot be verified still gets its report, marked unverified."""
    import reports

    config = app.config  # a bad config is a usage error before anything else reports on it
    store = app.store
    for label, value in (("--run", run_id), ("--diff-from", diff_from)):
        if value is not None and not any(r.id == value for r in store.runs()):
            raise UsageError(f"{label} {value}: no such run in {store.path}")
    unverified = None
    try:
        verdict = app.audit.verify()
    except KeyturnError as exc:
        # A report without the log check is still evidence; say so instead of failing.
        verdict, unverified = None, str(exc)
    _, written = reports.generate(
        store,
        client=config.client,
        operator=app.operator,
        formats=list(formats) or config.report.formats,
        out_dir=report_folder(app, out_dir),
        run_id=run_id,
        diff_from=diff_from,
        audit=verdict,
    )
    if verdict is not None and verdict.ok:  # a damaged log takes no entry until sealed
        app.audit.append(
            "report.write",
            config.client,
            "ok",
            detail={"files": [str(p) for p in written], "as_of": run_id, "diff_from": diff_from},
        )
    return ReportRun(list(written), verdict, unverified)
