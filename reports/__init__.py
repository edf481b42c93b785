"""Auditor reports: read the store (never rescan), write HTML, CSV, JSON and Markdown."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inventory.audit import Verdict
    from inventory.store import Store


def generate(
    store: Store,
    *,
    client: str,
    operator: str,
    formats: Iterable[str],
    out_dir: Path,
    run_id: int | None = None,
    diff_from: int | None = None,
    audit: Verdict | None = None,
) -> tuple[dict[str, Any], list[Path]]:
    """Build the report for the state as of ``run_id`` (None: latest) with changes since
    ``diff_from`` (None: each kind's previous run) and write it in every format requested.
    Returns the report dict and the files written."""
    from reports.model import build_report
    from reports.render import write_reports

    report = build_report(
        store, client=client, operator=operator, run_id=run_id, diff_from=diff_from, audit=audit
    )
    return report, write_reports(report, formats, Path(out_dir))
