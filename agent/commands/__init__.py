"""One module per ``keyturn`` command (see agent/cli.py)."""

import click

# --json FILE of every command: a folder or a read-only file is refused when the flags are
# parsed, not after a long scan or a rotation has run.
JSON_OUT = click.Path(dir_okay=False, writable=True, allow_dash=True)
