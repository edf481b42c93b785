"""keyturn verify: log in with every stored credential and report which still work."""

from __future__ import annotations

import sys

import click

from agent.commands import JSON_OUT, write_json
from agent.commands.rotate import progress_bar, target_options
from agent.core.terminal import inert


@click.command()
@target_options
@click.option(
    "--parallel",
    type=click.IntRange(1, 256),
    metavar="N",
    help="Devices at a time (default: [rotation] parallel, 8).",
)
@click.option(
    "--json",
    "json_path",
    metavar="FILE",
    type=JSON_OUT,
    help="Write the results as JSON ('-': stdout).",
)
@click.pass_obj
def verify(app, targets_file, from_inventory, classes, account, parallel, json_path) -> None:
    """Log in with every stored credential and report which still work.

    Status per device: ok, changed (the stored password is refused: changed outside
    keyturn), pending_works (an interrupted rotation; run rotate), refused (scope or host
    key), failed (unreachable). Nothing is changed.

    \b
    Example:
      keyturn --config acme.toml verify --from-inventory --json verify.json
    \b
    Exit codes (for schedules): 0 every credential works, 1 some do not, 3 none could be
    checked.
    """
    from agent.ops import rotate as usecase

    class_list = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    targets = usecase.resolve_targets(app, targets_file, from_inventory, class_list, account)
    advance, bar = progress_bar(app, len(targets), "verifying")
    with bar:
        outcome = usecase.verify(app, targets, parallel=parallel, progress=advance)
    for r in outcome.results:
        click.echo(  # errors quote device banners: inert before the terminal shows them
            inert(f"{r.username + '@' + r.host:40} {r.platform:18} {r.status:14} {r.error or ''}"),
            err=json_path == "-",
        )
    if json_path:
        write_json(json_path, outcome.document)
    sys.exit(outcome.exit_code)
