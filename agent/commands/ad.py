"""keyturn ad: not built yet."""

import click

from agent.errors import NotBuiltError


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def ad() -> None:
    """Not built yet."""
    raise NotBuiltError("'keyturn ad' is not built yet")
