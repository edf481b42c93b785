"""The MSP's all-clients report: one row per client from the central store, as HTML, CSV or
JSON. Reads the store only (inventory.overview); writes files 0600."""

from __future__ import annotations

import csv
import html
import io
import json
import os
from pathlib import Path
from typing import Any

from inventory.overview import SEVERITIES

FORMATS = ("html", "csv", "json")
COLUMNS = (
    "client",
    "hosts",
    "privileged_accounts",
    "dialin_accounts",
    *(f"findings_{s}" for s in SEVERITIES),
    "cis_4_7_handled",
    "cis_4_7_total",
    "cis_4_7_share",
    "last_discover",
    "last_rotation",
    "last_verify",
)
# CSV also names each client's drill-down report (written with the HTML).
CSV_COLUMNS = (*COLUMNS, "report")


def flat(row: dict[str, Any]) -> dict[str, Any]:
    """One client's row with nested figures spread into columns (CSV, HTML)."""
    out = {k: row[k] for k in ("client", "hosts", "privileged_accounts", "dialin_accounts")}
    out |= {f"findings_{s}": row["findings"].get(s, 0) for s in SEVERITIES}
    out |= {
        "cis_4_7_handled": row["cis_4_7"]["no_longer_inherited"],
        "cis_4_7_total": row["cis_4_7"]["total"],
        "cis_4_7_share": row["cis_4_7"]["share"],
    }
    out |= {k: row[k] for k in ("last_discover", "last_rotation", "last_verify")}
    out["report"] = row.get("report")
    return out


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"clients": rows}, indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _neutral(v) for k, v in flat(r).items()} for r in rows)
        return buffer.getvalue()
    return _html(rows)


def write(rows: list[dict[str, Any]], formats: list[str], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = []
    for fmt in formats:
        path = out_dir / f"all-clients.{fmt}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render(rows, fmt))
        written.append(path)
    return written


def _neutral(value: Any) -> Any:
    # A client name or time starting with = + - @ would be a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _html(rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in COLUMNS)
    body = []
    for row in rows:
        cells = flat(row)
        share = cells["cis_4_7_share"]
        cells["cis_4_7_share"] = f"{share:.0%}" if share is not None else "-"
        text = ["-" if cells[c] is None else str(cells[c]) for c in COLUMNS]
        tds = [f"<td>{html.escape(value)}</td>" for value in text]
        if row.get("report"):  # the drill-down to the client's own report
            link = html.escape(row["report"], quote=True)
            tds[0] = f'<td><a href="{link}">{html.escape(text[0])}</a></td>'
        body.append("<tr>" + "".join(tds) + "</tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\"><title>keyturn: all clients</title><style>"
        "body{font:14px sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child{text-align:left}</style></head><body>"
        f"<h1>All clients ({len(rows)})</h1><table><thead><tr>{head}</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></body></html>\n"
    )
