"""keyturn checklist: every inherited admin credential, until it is changed."""

from __future__ import annotations

import click

from agent.commands import JSON_OUT, write_json
from agent.core.terminal import inert

KIND_HELP = (
    "gateway_router, firewall, wireless_access, printer, switch, nas_san, virtual_machine, voip, "
    "windows_service_account, workstation_admin, other_network_device, antivirus_console, "
    "vpn_access, web_portal, remote_support"
)
# inventory.checklist.ItemState, spelled out so `keyturn --help` does not open the store code.
STATES = ("inherited", "changed", "not_applicable", "accepted_risk")


@click.group(invoke_without_command=True)
@click.option(
    "--state", "states", multiple=True, type=click.Choice(STATES), help="Only this state."
)
@click.option(
    "--kind", "kinds", multiple=True, metavar="KIND", help=f"Only this kind: {KIND_HELP}."
)
@click.option(
    "--json",
    "json_out",
    metavar="FILE",
    type=JSON_OUT,
    help="Write the items as JSON ('-': stdout).",
)
@click.pass_context
def checklist(ctx: click.Context, states, kinds, json_out) -> None:
    """Track every inherited admin credential until it is changed.

    Without a subcommand, lists the items. `discover`, `ad` and `onboard` fill the list in
    from the inventory (`checklist prefill` does it by hand); a successful rotation marks its
    item changed.

    \b
    Example:
      keyturn --config acme.toml checklist --state inherited
      keyturn --config acme.toml checklist mark 12 accepted_risk \\
        --note "client keeps it until March" --by "J. Doe (CFO)"
    """
    if ctx.invoked_subcommand is not None:
        return
    from inventory import checklist as domain

    app = ctx.obj
    for kind in kinds:
        domain.check_kind(kind)
    found = domain.items(app.store, states=states, kinds=kinds)
    if json_out:
        write_json(json_out, [item.as_dict() for item in found])
        return
    _print_table(found, domain.counts(app.store))


@checklist.command("mark")
@click.argument("item_id", metavar="ITEM", type=int)
@click.argument("state", type=click.Choice(STATES))
@click.option("--note", help="Why (required for not_applicable and accepted_risk).")
@click.option("--by", "who", metavar="NAME", help="Who decided (default: the operator).")
@click.pass_obj
def mark(app, item_id: int, state: str, note: str | None, who: str | None) -> None:
    """Record that an item was changed, does not apply, or is an accepted risk.

    The decision is written to the audit log with the operator and the time.

    \b
    Example:
      keyturn --config acme.toml checklist mark 7 not_applicable --note "no VPN at this site"
    """
    from agent.ops.checklist import mark_item

    before, after = mark_item(app, item_id, state, note=note, who=who)
    click.echo(inert(
        f"item {item_id} ({after.kind} {after.target} {after.account}): {before.state} -> {state}"
    ))  # fmt: skip


@checklist.command("add")
@click.option("--kind", required=True, metavar="KIND", help=f"One of: {KIND_HELP}.")
@click.option("--target", required=True, help="A host, a directory, or a name ('VPN portal').")
@click.option("--account", default="", help="The account whose password must change.")
@click.pass_obj
def add(app, kind: str, target: str, account: str) -> None:
    """Add a credential no scan could find.

    \b
    Example:
      keyturn --config acme.toml checklist add --kind web_portal \\
        --target "ISP portal" --account acme-admin
    """
    from agent.ops.checklist import add_item

    item = add_item(app, kind, target, account)
    click.echo(inert(f"added item {item.id}: {kind} {item.target} {item.account}".rstrip()))


@checklist.command("prefill")
@click.pass_obj
def prefill(app) -> None:
    """Add the items the latest discover and AD runs imply (recorded states are kept).

    \b
    Example:
      keyturn --config acme.toml checklist prefill
    """
    from agent.ops.checklist import prefill_checklist

    with app.lock("checklist prefill"):
        result = prefill_checklist(app)
    click.echo(f"{len(result.added)} item(s) added, {result.kept} already listed")


def _escaped(item):
    # Targets, accounts and notes are free text from scans, the directory or an operator
    # ('[lab] VPN'): no escape sequence reaches the terminal, no markup reaches rich.
    from dataclasses import replace

    return replace(
        item,
        target=inert(item.target, markup=True),
        account=inert(item.account, markup=True),
        note=inert(item.note, markup=True) if item.note else None,
        decided_by=inert(item.decided_by, markup=True) if item.decided_by else None,
    )


def _print_table(found, counts: dict[str, int]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Credential checklist", show_lines=False)
    for column in ("id", "kind", "target", "account", "handling", "state", "decided", "note"):
        table.add_column(column, overflow="fold")
    for item in found:
        item = _escaped(item)
        decided = f"{item.decided_by} {item.decided_at}" if item.decided_by else ""
        table.add_row(
            str(item.id),
            item.kind,
            item.target,
            item.account,
            item.handling,
            item.state,
            decided,
            item.note or "",
        )
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)  # piped or logged: do not wrap at 80
    console.print(table)
    console.print(
        "  ".join(f"{state}: {number}" for state, number in counts.items()), highlight=False
    )
