"""Moving credentials in and out of the keyring: CSV import, CSV / Bitwarden JSON export."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from agent.errors import ConfigError
from agent.secret import Secret
from rotation.drivers.base import ENABLE_ACCOUNT

REQUIRED = ("host", "username", "password")


def read_csv(path: str | Path) -> list[dict]:
    """Rows of host, username, password (+ enable_secret, platform); values wrapped in Secret."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}")
    rows = []
    for number, row in enumerate(reader, start=2):
        if not any((v or "").strip() for v in row.values()):
            continue
        if not row["host"].strip() or not row["username"].strip() or not row["password"]:
            raise ConfigError(f"{path}:{number}: host, username and password are required")
        rows.append({
            "host": row["host"].strip(),
            "username": row["username"].strip(),
            "password": Secret(row["password"]),
            "enable_secret": Secret(row["enable_secret"]) if row.get("enable_secret") else None,
            "platform": (row.get("platform") or "").strip() or None,
        })
    return rows


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
            rows.append({"host": entry.host, "username": entry.user,
                         "platform": entry.platform or "", "password": value})
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
    items = [{
        "type": 1,
        "name": f"{r['username']}@{r['host']}",
        "notes": f"platform: {r['platform']}" if r["platform"] else None,
        "login": {"username": r["username"], "password": r["password"].reveal(),
                  "uris": [{"match": None, "uri": f"ssh://{r['host']}"}]},
    } for r in rows]
    return json.dumps({"encrypted": False, "folders": [], "items": items}, indent=2) + "\n"


def write_private(path: str | Path, text: str) -> None:
    """Create or replace ``path`` readable by its owner only (0600 before any byte lands)."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
