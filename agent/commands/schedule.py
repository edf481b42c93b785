"""keyturn schedule: systemd units (or a cron line) for scheduled runs."""

from __future__ import annotations

from pathlib import Path

import click

from agent.core.errors import UsageError


@click.command()
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Site config the scheduled run uses (default: the global --config).",
)
@click.option(
    "--every",
    required=True,
    metavar="daily|weekly|hourly|CRON",
    help="A preset or a 5-field cron expression such as '30 2 * * 1-5'.",
)
@click.option(
    "--command",
    "command",
    type=click.Choice(["onboard", "verify"]),
    default="onboard",
    show_default=True,
    help="What the scheduled run does.",
)
@click.option(
    "--rotate",
    is_flag=True,
    help="Scheduled onboard also rotates (passes --rotate --yes: approve the plan now).",
)
@click.option("--install", is_flag=True, help="Write the units to /etc/systemd/system and enable.")
@click.option(
    "--unit-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="/etc/systemd/system",
    hidden=True,
)
@click.pass_obj
def schedule(app, config_path, every, command, rotate, install, unit_dir) -> None:
    """Print or install systemd units for scheduled runs.

    Prints a service + timer pair and an /etc/cron.d line; --install writes the units and
    enables the timer. The run reads PYTHON_KEYRING_BACKEND and KEYTURN_KEYRING_PASSWORD_FILE
    from /etc/keyturn/<client>.env (see docs/operations.md).

    \b
    Example:
      keyturn schedule --config acme.toml --every weekly --command verify --install
    """
    from agent import config as site_config
    from agent.ops import schedule as ops

    path = config_path or app.config_path
    if path is None:
        raise UsageError("schedule needs the site config: --config FILE")
    cfg = site_config.load(path)
    units = ops.render(
        client=cfg.client,
        config_path=Path(path),
        every=every,
        command=command,
        rotate=rotate,
        targets_file=bool(cfg.rotation.targets),
    )
    if install:
        for line in ops.install(units, unit_dir):
            click.echo(line)
        return
    click.echo(f"# {unit_dir / units.service_name}")
    click.echo(units.service)
    click.echo(f"# {unit_dir / units.timer_name}")
    click.echo(units.timer)
    click.echo("# or instead, one line in /etc/cron.d/keyturn:")
    click.echo(units.cron_line)
