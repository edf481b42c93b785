"""One module per ``keyturn`` command (see agent/cli.py), and what they share."""

import json

import click
import orjson

from agent.core import files
from agent.core.secret import json_default

# --json FILE of every command: a folder or a read-only file is refused when the flags are
# parsed, not after a long scan or a rotation has run.
JSON_OUT = click.Path(dir_okay=False, writable=True, allow_dash=True)


def write_json(path: str, document: object, *, sort_keys: bool = False) -> None:
    """What every ``--json FILE`` writes: FILE (private, renamed into place, never through a
    symlink: agent/core/files.py), or stdout for '-'; Secrets come out redacted."""
    text = dumps(document, sort_keys=sort_keys) + "\n"
    if path == "-":
        click.echo(text, nl=False)
    else:
        files.write_atomic(path, text)


# orjson writes the same indented text as json.dumps(indent=2), ~20x faster (a /16's 4,000
# hosts: 3 ms against 68 ms); dataclasses and datetimes go to ``default`` as json would send
# them, and non-str keys become strings as json makes them.
_ORJSON_OPTIONS = (
    orjson.OPT_INDENT_2
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)


def dumps(document: object, *, sort_keys: bool = False) -> str:
    """``document`` as indented JSON, every non-ASCII character escaped (\\uXXXX): the text
    may go to a terminal, where raw bidi or C1 control characters from a device's name would
    act. Text orjson would write with non-ASCII in it, or cannot write (an integer past 64
    bits), is written by json instead, as before."""
    options = _ORJSON_OPTIONS | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    try:
        encoded: bytes | None = orjson.dumps(document, default=json_default, option=options)
    except orjson.JSONEncodeError:
        encoded = None  # json decides: it may write it, or raise its own error
    if encoded is not None and encoded.isascii():
        return encoded.decode("ascii")
    return json.dumps(document, indent=2, sort_keys=sort_keys, default=json_default)
