"""keyturn review: read firewalls' rule bases read-only and report what exposes the client."""

from __future__ import annotations

import sys

import click

from agent.commands import JSON_OUT, write_json
from agent.core.errors import EXIT_FINDINGS, UsageError


@click.command()
@click.option(
    "--from-inventory",
    is_flag=True,
    help="Review every firewall with a stored credential (the default).",
)
@click.option(
    "--targets",
    "targets_file",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Review the [[device]] tables of this targets file instead.",
)
@click.option(
    "--import-config",
    "config_file",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Review a configuration backup or export offline: no device is contacted.",
)
@click.option(
    "--platform",
    metavar="P",
    help="The platform of --import-config: fortinet, cisco_asa, juniper_junos, "
    "mikrotik_routeros, cisco_ios, linux, ...",
)
@click.option(
    "--json",
    "json_out",
    metavar="FILE",
    type=JSON_OUT,
    help="Write the review document as JSON ('-': stdout).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Folder for the suggested fixes and the CSV rule bases. "
    "Default: ./keyturn-review-<client>.",
)
@click.pass_obj
def review(app, from_inventory, targets_file, config_file, platform, json_out, out_dir) -> None:
    """Review firewall rule bases and management planes: what the internet reaches, who can
    manage the box from where, which rules are dead.

    Logs in read-only with the stored credentials and pinned host keys (only display
    commands are sent; the configuration is the same after a review), or reads a backup
    with --import-config. Every finding cites the rule and its config lines: internet
    exposed services (port forwards with an allowing rule), WAN and cleartext management,
    default SNMP communities, shadowed rules (exact: by the union of earlier rules),
    redundant, unlogged, disabled and unused rules, no default deny, VPN local users and
    weak VPN crypto. Suggested fixes in each platform's CLI are written to a file, never
    applied. The run is stored; rules added, removed or changed since the previous review
    are listed. Exit 1 when any finding fired.

    \b
    Example:
      keyturn --config acme.toml review --json review.json
      keyturn review --targets firewalls.toml --out ./review
      keyturn review --import-config fw1-backup.conf --platform fortinet
    """
    from agent.core.terminal import inert
    from agent.ops import review as usecase

    if sum(map(bool, (from_inventory, targets_file, config_file))) > 1:
        raise UsageError("use one of --from-inventory, --targets and --import-config")
    if platform and not config_file:
        raise UsageError("--platform goes with --import-config")
    if config_file:
        if not platform:
            raise UsageError("--import-config needs --platform (e.g. --platform fortinet)")
        document = usecase.review_config(app, config_file, platform)
    else:
        targets = (
            usecase.targets_from_file(targets_file)
            if targets_file
            else usecase.firewalls_to_review(app)
        )
        document = usecase.review_devices(app, targets)
    target = out_dir or f"keyturn-review-{app.config.client or 'site'}"
    to_stderr = json_out == "-"
    for path in usecase.export(document, target):
        click.echo(str(path), err=to_stderr)
    if json_out:
        write_json(json_out, document)
    for line in usecase.text_lines(document):  # device and file text: shown inert
        click.echo(inert(line), err=to_stderr)
    click.echo(usecase.summary_line(document), err=to_stderr)
    for error in document["errors"]:
        click.echo(inert(f"keyturn: warning: {error}"), err=True)
    if any(d["findings"] for d in document["devices"]):
        sys.exit(EXIT_FINDINGS)
