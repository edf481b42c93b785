"""keyturn doctor: is this machine ready to run keyturn?"""

from __future__ import annotations

import click

from agent.core.errors import EXIT_FINDINGS


@click.command()
@click.pass_obj
def doctor(app) -> None:
    """Check this machine is ready to run keyturn.

    Checks nmap, raw-socket capability, the keyring (usable, not plaintext, unlocks without
    a prompt), the site config, the store, the audit log and the clock. One line each:
    `ok|FAIL name: detail`. Exit 0 when all pass, 1 when any fails.

    \b
    Example:
      keyturn --config acme.toml doctor
    """
    from agent.ops.doctor import run_checks

    results = run_checks(app)
    for check in results:
        click.echo(check.line())
    if not all(check.ok for check in results):
        raise SystemExit(EXIT_FINDINGS)
