"""keyturn sync: push this site's inventory to the MSP's central PostgreSQL store."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--to",
    "url",
    required=True,
    metavar="postgresql://...",
    help="The central store (the password from PGPASSWORD or ~/.pgpass, not argv).",
)
@click.pass_obj
def sync(app, url) -> None:
    """Push this client's SQLite inventory into a central PostgreSQL store.

    Idempotent and resumable: rows already there are updated, a second push changes
    nothing, an interrupted push is finished by the next. No secret is ever sent (the
    store holds none; passwords stay in the secret store).

    \b
    Example:
      keyturn --config acme.toml sync --to postgresql://keyturn@db.msp.example/keyturn
    """
    from agent.ops.sync import sync_to

    pushed = sync_to(app, url)
    click.echo(
        f"synced {pushed.rows} row(s) of client {app.config.client}: "
        + ", ".join(f"{t} {n}" for t, n in pushed.tables.items() if n)
    )
