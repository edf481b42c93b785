"""keyturn audit: read and verify the tamper-evident audit log."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from agent.core.errors import EXIT_FAILED, UsageError


@click.group()
def audit() -> None:
    """Show or verify the tamper-evident audit log.

    \b
    Example:
      keyturn --config acme.toml audit verify
    """


@audit.command("verify")
@click.pass_obj
def verify(app) -> None:
    """Check every entry's chain and signature; exit 0 only when intact.

    \b
    Example:
      keyturn --store acme.db audit verify
    """
    verdict = app.audit.verify()
    click.echo(verdict.describe())
    if not verdict.ok:
        raise SystemExit(EXIT_FAILED)


@audit.command("show")
@click.option("--run", "run_id", type=int, help="Only this run's entries.")
@click.option("--since", metavar="DATE", help="Only entries at or after DATE (ISO, UTC).")
@click.pass_obj
def show(app, run_id: int | None, since: str | None) -> None:
    """List audit entries, oldest first.

    \b
    Example:
      keyturn --store acme.db audit show --since 2026-11-01
    """
    if run_id is not None and not any(r.id == run_id for r in app.store.runs()):
        raise UsageError(f"--run {run_id}: no such run in {app.store.path}")
    since_stamp = _utc_stamp(since) if since else None
    for entry in app.audit.entries():
        if run_id is not None and entry.get("run_id") != run_id:
            continue
        if since_stamp and entry["time"] < since_stamp:
            continue
        target = f" {entry['target']}" if entry.get("target") else ""
        click.echo(
            f"{entry['time']}  #{entry['seq']:<5} run {entry.get('run_id') or '-':<4} "
            f"{entry['operator']:<12} {entry['action']}{target}: {entry['outcome']}"
        )


def _utc_stamp(value: str) -> str:
    """--since in the log's own time format, so that a plain string comparison orders them
    (a typo would otherwise compare as text and silently hide every entry)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {value!r}: not an ISO date or time (e.g. 2026-11-01 or 2026-11-01T08:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
