"""keyturn audit: read and verify the tamper-evident audit log."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from agent.core.errors import EXIT_FAILED, UsageError
from agent.core.terminal import inert


@click.group()
def audit() -> None:
    """Show or verify the tamper-evident audit log.

    \b
    Example:
      keyturn --config acme.toml audit verify
      keyturn --config acme.toml audit seal-damage
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
        # Targets name imported credentials and devices: hostile text until made inert.
        click.echo(inert(
            f"{entry['time']}  #{entry['seq']:<5} run {entry.get('run_id') or '-':<4} "
            f"{entry['operator']:<12} {entry['action']}{target}: {entry['outcome']}"
        ))  # fmt: skip


@audit.command("seal-damage")
@click.pass_obj
def seal_damage(app) -> None:
    """Set a damaged log's bad tail aside as evidence and record the break.

    A damaged log refuses every write until this runs. The entries that verify from the
    start stay; the rest moves, byte for byte, into <log>.damaged-<time>.jsonl (0600); a
    new signed entry records the verdict, the head the store expected and the evidence
    file's SHA-256, and `audit verify` names every sealed break from then on.

    \b
    Example:
      keyturn --config acme.toml audit verify
      keyturn --config acme.toml audit seal-damage
    """
    with app.lock("audit seal-damage", check_audit=False):
        entry = app.audit.seal_damage()
    if entry is None:
        click.echo("audit log intact: nothing to seal")
        return
    detail = entry["detail"]
    kept = f"kept {detail['kept_entries']} entries"
    moved = (
        f"moved {detail['moved_lines']} line(s) to {detail['evidence']}"
        if detail["evidence"]
        else "no line to move"
    )
    click.echo(
        inert(
            f"sealed: {detail['verdict']}; {kept}, {moved}; break recorded as entry {entry['seq']}"
        )
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
