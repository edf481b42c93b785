"""keyturn verify: not built yet."""

import click

from agent.errors import NotBuiltError


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def verify() -> None:
    """Not built yet."""
    raise NotBuiltError("'keyturn verify' is not built yet")
