"""keyturn topology: read neighbours, MAC and ARP tables and draw the network diagram."""

from __future__ import annotations

import click

from agent.commands import JSON_OUT, write_json

FORMATS = ("svg", "drawio", "dot", "graphml")


@click.command()
@click.option(
    "--json",
    "json_out",
    metavar="FILE",
    type=JSON_OUT,
    help="Write the topology document as JSON ('-': stdout).",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(FORMATS),
    multiple=True,
    help="Export the diagram in this format; repeatable. Default: svg.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Folder for the exports. Default: ./keyturn-topology-<client>.",
)
@click.option(
    "--source",
    type=click.Choice(("auto", "ssh", "snmp")),
    default="auto",
    show_default=True,
    help="auto: SSH where a credential is stored, SNMP for the other switches.",
)
@click.pass_obj
def topology(app, json_out, formats, out_dir, source) -> None:
    """Draw the network: which switch port each host hangs off, switch-to-switch links,
    each subnet's gateway, and what changed since the last run.

    Logs in read-only with the stored credentials (pinned host keys) to every switch and
    router keyturn holds a password for, reads LLDP/CDP neighbours, the MAC address table
    and ARP (over SNMP with the [discover] communities for the switches and routers
    discovery found without a stored credential), and stores the run. The HTML report
    shows the diagram; exports open in draw.io, yEd/Gephi (GraphML) and Graphviz (dot).

    \b
    Example:
      keyturn --config acme.toml topology --format drawio --format svg --out ./diagram
      keyturn topology --json - --format graphml --source snmp
    """
    from agent.core.terminal import inert
    from agent.ops import topology as usecase

    document = usecase.map_topology(app, source=source)
    target = out_dir or f"keyturn-topology-{app.config.client or 'site'}"
    for path in usecase.export(document, formats or ("svg",), target):
        click.echo(str(path))
    if json_out:
        write_json(json_out, {k: v for k, v in document.items() if k != "svg"})
    click.echo(usecase.summary_line(document), err=json_out == "-")
    for error in document["errors"]:  # device and network text: shown inert
        click.echo(inert(f"keyturn: warning: {error}"), err=True)
