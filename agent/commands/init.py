"""keyturn init: write a commented site config to fill in."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--client", required=True, help="The client's short name (letters, digits, . _ -).")
@click.option(
    "--out",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it. Default: ./<client>.toml. An existing file is never overwritten.",
)
def init(client: str, out: Path | None) -> None:
    """Write a commented site config to fill in.

    Fill in scope (and [ad] if the client has a domain), then run `keyturn doctor` and
    `keyturn onboard`.

    \b
    Example:
      keyturn init --client acme --out acme.toml
    """
    from agent.ops import site_template

    path = site_template.write(out or Path(f"{client}.toml"), client)
    click.echo(f"wrote {path}: fill in 'scope' (and [ad] if the client has a domain)")
    click.echo(f"next: keyturn --config {path} doctor")
