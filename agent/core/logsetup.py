"""Logging: readable lines on a terminal, JSON lines for machines, never a secret.

Secrets are redacted twice: a Secret renders as ******** wherever it is formatted, and the
RedactingFilter scrubs the values of every Secret created in this process from the final
message (a device that echoes a password into an exception text cannot leak it here).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from agent.core.secret import json_default, scrub
from agent.core.terminal import inert

LOGGER_NAME = "keyturn"


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        # A text formatter appends the traceback (exc_text, cached on the record), and its
        # last line is the exception's own text: scrub it here, before any handler formats it.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}))
        if record.exc_info:
            payload["error"] = scrub(f"{record.exc_info[0].__name__}: {record.exc_info[1]}")
        return json.dumps(payload, default=json_default)


class InertFormatter(logging.Formatter):
    """Text lines for a terminal: a message quoting a device banner or an imported name
    carries no escape sequence to the operator's terminal (JSON lines escape them anyway)."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return inert(super().format(record), keep_newlines=True)


def configure(
    *, verbosity: int = 0, log_format: str = "text", log_file: str | Path | None = None
) -> logging.Logger:
    """Console handler on stderr (text or JSON) plus an optional JSON-lines file (appended)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(
        {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
            max(-1, min(verbosity, 2)), logging.DEBUG
        )
    )
    console.setFormatter(JsonFormatter() if log_format == "json" else InertFormatter())
    handlers: list[logging.Handler] = [console]
    if log_file:
        file_handler = _private_file_handler(Path(log_file))
        file_handler.setLevel(logging.INFO)
        file_handler.setFormatter(JsonFormatter())
        handlers.append(file_handler)
    for handler in handlers:
        handler.addFilter(RedactingFilter())
        logger.addHandler(handler)
    return logger


def _private_file_handler(path: Path) -> logging.Handler:
    """Append-only, one line per write: several runs may share a file; logrotate's
    copytruncate or a WatchedFileHandler-style reopen both work on it. Opened (and reopened)
    as a private file of ours: 0600, never through a symlink, never another user's file."""
    from logging.handlers import WatchedFileHandler

    from agent.core import files

    class PrivateWatchedFileHandler(WatchedFileHandler):
        def _open(self):
            return files.open_private(self.baseFilename, "a", encoding=self.encoding)

    return PrivateWatchedFileHandler(path, encoding="utf-8")


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}")
