"""One module per ``keyturn`` command (see agent/cli.py), and what they share."""

import click

from agent.core import files
from agent.core.jsontext import indented

# --json FILE of every command: a folder or a read-only file is refused when the flags are
# parsed, not after a long scan or a rotation has run.
JSON_OUT = click.Path(dir_okay=False, writable=True, allow_dash=True)


def write_json(path: str, document: object, *, sort_keys: bool = False) -> None:
    """What every ``--json FILE`` writes: FILE (private, renamed into place, never through a
    symlink: agent/core/files.py), or stdout for '-'; Secrets come out redacted."""
    text = indented(document, sort_keys=sort_keys) + "\n"
    if path == "-":
        click.echo(text, nl=False)
    else:
        files.write_atomic(path, text)
