"""Moving credentials in and out of the keyring: CSV import, CSV / Bitwarden JSON export.

Not rotation's: an import feeds the keyring that rotation, verify and the directory audit
read. Every imported row is checked by agent.ops.credentials (names, platform, scope,
password policy) and a refusal names the file and line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from agent.core.errors import ConfigError, UsageError
from agent.core.scope import ScopeGuard
from agent.core.secret import Secret
from agent.ops.credentials import check_credential, check_scope
from rotation.drivers.base import ENABLE_ACCOUNT

REQUIRED = ("host", "username", "password")


def read_csv(path: str | Path, scope: Callable[[], ScopeGuard]) -> list[dict]:
    """Rows of host, username, password (+ enable_secret, platform); values wrapped in Secret,
    every one validated. ``scope`` builds the site's guard when a row names an address."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (save the CSV as UTF-8)") from None
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = []
        start = 2
        for row in reader:
            # Name the line a record starts on: a quoted field may span several.
            rows.append(_row(path, start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        hint = ": an unclosed quote?" if "end of data" in str(exc) else ""
        raise ConfigError(f"{path}: not valid CSV ({exc}{hint})") from None
    rows = [row for row in rows if row is not None]
    seen: set[tuple[str, str]] = set()
    for row in rows:
        accounts = [row["username"]] + ([ENABLE_ACCOUNT] if row["enable_secret"] else [])
        for user in accounts:
            key = (row["host"], user)
            if key in seen:
                # Two passwords for one keyring entry (also "Router1" and "router1", or an
                # "enable" row and an enable_secret column): either could lose the live one.
                raise ConfigError(f"{path}:{row['line']}: {user}@{row['host']} is listed twice")
            seen.add(key)
    for row in rows:
        _check_scope(path, row, scope)
    return rows


def _row(path: str | Path, line: int, row: dict) -> dict | None:
    if None in row:
        raise ConfigError(f"{path}:{line}: more fields than columns")
    values = {key: value or "" for key, value in row.items()}
    if not any(value.strip() for value in values.values()):
        return None
    # Only spaces are trimmed: str.strip() would also drop a trailing newline or the
    # separator characters \x1c-\x1f, which must be refused, not silently cleaned.
    host, username = values["host"].strip(" "), values["username"].strip(" ")
    if not host or not username or not values["password"]:
        raise ConfigError(f"{path}:{line}: host, username and password are required")
    for column in ("password", "enable_secret"):
        if "\n" in values.get(column, "") or "\r" in values.get(column, ""):
            # Almost always an unclosed quote that swallowed the next line.
            raise ConfigError(f"{path}:{line}: {column} contains a line break (unclosed quote?)")
    platform = values.get("platform", "").strip(" ") or None
    enable = Secret(values["enable_secret"]) if values.get("enable_secret") else None
    try:
        # The scope is checked once every row parsed (a file of host names needs none).
        credential = check_credential(host, username, Secret(values["password"]), platform, None)
        if enable is not None:
            check_credential(host, ENABLE_ACCOUNT, enable, platform, None, "enable_secret")
    except UsageError as exc:
        raise ConfigError(f"{path}:{line}: {exc}") from None
    return {
        "host": credential.host,
        "username": credential.user,
        "password": credential.password,
        "enable_secret": enable,
        "platform": credential.platform,
        "line": line,
    }


def _check_scope(path: str | Path, row: dict, scope: Callable[[], ScopeGuard]) -> None:
    try:
        check_scope(row["host"], scope)
    except UsageError as exc:
        raise ConfigError(f"{path}:{row['line']}: {exc}") from None


def import_rows(store, rows: list[dict]) -> int:
    """Store each row as current; a different existing current is kept as previous."""
    count = 0
    for row in rows:
        pairs = [(row["username"], row["password"])]
        if row["enable_secret"] is not None:
            pairs.append((ENABLE_ACCOUNT, row["enable_secret"]))
        for user, secret in pairs:
            existing = store.get(row["host"], user, "current")
            if existing is not None and existing != secret:
                store.put(row["host"], user, existing, "previous", platform=row["platform"])
            store.put(row["host"], user, secret, "current", platform=row["platform"])
            count += 1
    return count


def export_rows(store) -> list[dict]:
    rows = []
    for entry in store.entries():
        value = store.get(entry.host, entry.user, "current")
        if value is not None:
            rows.append(
                {
                    "host": entry.host,
                    "username": entry.user,
                    "platform": entry.platform or "",
                    "password": value,
                }
            )
    return rows


def render(rows: list[dict], fmt: str) -> str:
    """CSV or a Bitwarden unencrypted JSON import file (login items)."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["host", "username", "password", "platform"])
        for r in rows:
            writer.writerow([r["host"], r["username"], r["password"].reveal(), r["platform"]])
        return out.getvalue()
    items = [
        {
            "type": 1,
            "name": f"{r['username']}@{r['host']}",
            "notes": f"platform: {r['platform']}" if r["platform"] else None,
            "login": {
                "username": r["username"],
                "password": r["password"].reveal(),
                "uris": [{"match": None, "uri": f"ssh://{r['host']}"}],
            },
        }
        for r in rows
    ]
    return json.dumps({"encrypted": False, "folders": [], "items": items}, indent=2) + "\n"


def write_private(path: str | Path, text: str, *, force: bool = False) -> None:
    """Write a new ``path`` readable by its owner only; an existing one only with ``force``,
    then replaced atomically (agent/core/files.py: never through a symlink, never into
    another user's file, which could keep the passwords readable by that user)."""
    from agent.core import files

    files.write_atomic(path, text, replace=force)
