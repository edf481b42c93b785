"""keyturn rotate: change admin passwords on network devices, escrowed and verified."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from agent.commands import JSON_OUT, write_json
from agent.core.errors import UsageError
from agent.core.terminal import inert

if TYPE_CHECKING:
    from agent.context import AppContext

F = TypeVar("F", bound=Callable[..., Any])


def target_options(fn: F) -> F:
    """--targets / --from-inventory / --class / --account, shared with `keyturn verify`."""
    fn = click.option(
        "--account",
        "account",
        metavar="USER",
        multiple=True,
        help="Only this account (repeat for several: --account a --account b).",
    )(fn)
    fn = click.option(
        "--class",
        "classes",
        metavar="LIST",
        help="With --from-inventory: device classes, e.g. router,firewall,switch.",
    )(fn)
    fn = click.option(
        "--from-inventory", is_flag=True, help="Hosts with a platform from the latest discover run."
    )(fn)
    fn = click.option(
        "--targets",
        "targets_file",
        metavar="FILE.toml",
        type=click.Path(dir_okay=False, exists=True),
        help="[[device]] tables: host, platform, username (+ port, login, enable_account).",
    )(fn)
    return fn


def progress_bar(
    app: AppContext, total: int, label: str
) -> tuple[Callable[[Any], None] | None, AbstractContextManager[Any]]:
    """(callback, context manager): a rich bar on a terminal, nothing otherwise."""
    import contextlib

    if not app.interactive or total < 2:
        return None, contextlib.nullcontext()
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task(label, total=total)
    return (lambda _result: bar.advance(task)), bar


@click.command()
@target_options
@click.option(
    "--dry-run",
    is_flag=True,
    help="Log in and check credential, host key, privilege; change nothing.",
)
@click.option(
    "--parallel",
    type=click.IntRange(1, 256),
    metavar="N",
    help="Devices at a time (default: [rotation] parallel, 8).",
)
@click.option(
    "--from-directory",
    type=click.Choice(["service", "privileged"]),
    help="Domain accounts (kind ad) from the latest `keyturn ad` run; --account narrows.",
)
@click.option("--yes", is_flag=True, help="Do not ask before changing passwords.")
@click.option(
    "--allow-telnet",
    is_flag=True,
    help="With --from-inventory: rotate telnet-only hosts over telnet (passwords in clear).",
)
@click.option(
    "--json",
    "json_path",
    metavar="FILE",
    type=JSON_OUT,
    help="Write the results as JSON ('-': stdout).",
)
@click.pass_obj
def rotate(
    app,
    targets_file,
    from_inventory,
    classes,
    account,
    dry_run,
    parallel,
    from_directory,
    yes,
    allow_telnet,
    json_path,
) -> None:
    """Change admin passwords (network devices, domain and Windows local accounts).

    Per device: scope and host key checks, login with the stored password, a new password
    escrowed in the keyring before it is sent, a fresh login to verify it, save, then the
    keyring's pending version becomes current. Failures are put back or kept for review.

    \b
    Example:
      keyturn --config acme.toml rotate --targets devices.toml --dry-run
      keyturn --config acme.toml rotate --from-inventory --class router,firewall --yes
      keyturn --config acme.toml rotate --from-directory service --account svc_sql --yes
    \b
    Exit codes: 0 all rotated, 1 some failed, rolled back or need attention,
    2 usage error (or no --yes when not interactive), 3 all failed.
    """
    from agent.ops import rotate as usecase

    class_list = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    targets = usecase.resolve_targets(
        app,
        targets_file,
        from_inventory,
        class_list,
        account,
        from_directory,
        allow_telnet=allow_telnet,
    )
    targets, skipped = usecase.laps_skips(app, targets)
    if not dry_run and not yes:
        if not app.interactive:
            raise UsageError("rotate changes passwords: pass --yes when not on a terminal")
        click.echo(inert(usecase.plan_text(targets), keep_newlines=True), err=True)
        if not click.confirm(f"Rotate {len(targets)} password(s)?", err=True):
            raise UsageError("nothing rotated")
    advance, bar = progress_bar(app, len(targets), "rotating")
    with bar:
        outcome = usecase.rotate(
            app, targets, dry_run=dry_run, parallel=parallel, progress=advance, skipped=skipped
        )
    for r in outcome.results:
        extra = r.error or r.plan or ""
        # Errors quote device banners and prompts: inert before the terminal shows them.
        click.echo(
            inert(f"{r.username + '@' + r.host:40} {r.platform:18} {r.status:16} {extra}"),
            err=json_path == "-",
        )
    if json_path:
        write_json(json_path, outcome.document)
    sys.exit(outcome.exit_code)
