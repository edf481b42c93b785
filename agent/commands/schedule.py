"""keyturn schedule: not built yet."""

import click

from agent.errors import NotBuiltError


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def schedule() -> None:
    """Not built yet."""
    raise NotBuiltError("'keyturn schedule' is not built yet")
