"""keyturn audit: read and verify the tamper-evident audit log."""

from __future__ import annotations

import click

from agent.errors import EXIT_FAILED


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
    for entry in app.audit.entries():
        if run_id is not None and entry.get("run_id") != run_id:
            continue
        if since and entry["time"] < since:
            continue
        target = f" {entry['target']}" if entry.get("target") else ""
        click.echo(
            f"{entry['time']}  #{entry['seq']:<5} run {entry.get('run_id') or '-':<4} "
            f"{entry['operator']:<12} {entry['action']}{target}: {entry['outcome']}"
        )
