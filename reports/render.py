"""Render a report dict (see reports.model) as HTML, CSV, JSON or Markdown files.

The HTML is one self-contained file: inline CSS and JS, and a Content-Security-Policy that
allows exactly those two inline blocks (by hash) and nothing else, so even a rendering bug
could neither run injected script nor make the auditor's browser fetch anything.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from agent.core import files
from agent.core.jsontext import indented
from agent.core.terminal import inert
from reports.remediation import markdown as remediation_markdown
from reports.tables import report_tables, write_csv

FORMATS = ("html", "csv", "json", "md")
_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
# Emphasis, links, code and table cells; "<" and ">" become entities before this runs.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def write_reports(report: dict[str, Any], formats: Iterable[str], out_dir: Path) -> list[Path]:
    """Write each requested format into ``out_dir``; return every file written.

    HTML, CSV and Markdown show text from the client network to a person (a browser, Excel,
    a terminal ``cat``): they get it without raw control bytes or escape sequences. JSON
    keeps every value as recorded (its encoder escapes control characters)."""
    files.private_dir(out_dir)
    stem = f"keyturn-report-{report['client']}-{_stamp(report['generated'])}"
    shown = _inert(report)
    written: list[Path] = []
    for fmt in dict.fromkeys(formats):
        if fmt == "html":
            written.append(_write(out_dir / f"{stem}.html", render_html(shown)))
        elif fmt == "json":
            written.append(_write(out_dir / f"{stem}.json", render_json(report)))
        elif fmt == "md":
            written.append(_write(out_dir / f"{stem}.md", render_markdown(shown)))
        elif fmt == "csv":
            folder = out_dir / f"{stem}-csv"
            files.private_dir(folder)
            for name, table in report_tables(shown).items():
                written.append(write_csv(folder / f"{name}.csv", table))
        else:
            raise ValueError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")
    return written


def render_json(report: dict[str, Any]) -> str:
    return indented(report) + "\n"


def render_html(report: dict[str, Any]) -> str:
    css = _asset("report.css")
    js = _asset("report.js")
    csp = (
        "default-src 'none'; "
        f"style-src '{_csp_hash(css)}'; script-src '{_csp_hash(js)}'; "
        "img-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'"
    )
    template = _environment().get_template("report.html.j2")
    return template.render(r=report, s=report["summary"], css=css, js=js, csp=csp)


def render_markdown(report: dict[str, Any]) -> str:
    """A short summary for a ticket or an email; the HTML report has the detail."""
    s = report["summary"]
    runs = report["runs"]
    lines = [
        f"# keyturn report: {md(report['client'])}",
        "",
        f"Generated {report['generated']} by {md(report['generated_by'])}"
        + (f"; discovery run {runs['discover']['id']}" if runs["discover"] else "")
        + (f"; AD audit run {runs['ad']['id']}" if runs["ad"] else "")
        + ".",
        "",
        f"- **Hosts:** {s['hosts']} ("
        + (", ".join(f"{n} {md(c)}" for c, n in s["hosts_by_class"].items()) or "none")
        + ")",
        f"- **Privileged accounts:** {s['privileged_accounts']}",
        f"- **Dial-in allowed:** {s['dialin_allowed']}",
        f"- **Rotations:** {s['rotations']['done']} done, {s['rotations']['failed']} failed",
        "- **Findings:** "
        + (", ".join(f"{n} {md(v)}" for v, n in s["findings_by_severity"].items()) or "none"),
        f"- **Inherited credentials handled (CIS 4.7):** "
        f"{report['checklist']['cis_4_7']['no_longer_inherited']} of "
        f"{report['checklist']['cis_4_7']['total']}",
        "- **Audit log:** "
        + (md(report["audit_log"]["summary"]) if report["audit_log"] else "not verified"),
    ]
    topology = report.get("topology")
    if topology is not None:
        moved = len(topology["changes"]["hosts_moved"])
        lines.append(
            f"- **Network diagram:** {len(topology['devices'])} devices, "
            f"{len(topology['links'])} links, "
            f"{sum(len(g['hosts']) for g in topology['groups'])} hosts on switch ports"
            + (f", {moved} moved since run {topology['previous_run_id']}" if moved else "")
        )
    review = report.get("review")
    if review is not None:
        exposed = [e for d in review["devices"] for e in d["exposures"] if e["sensitive"]]
        lines.append(
            f"- **Firewall review:** {len(review['devices'])} device(s), "
            f"{sum(len(d['findings']) for d in review['devices'])} findings, "
            f"{len(exposed)} sensitive service(s) exposed to the internet"
        )
    loud = [c for c in report["changes"] if c["severity"] in ("critical", "high")]
    if report["changes"]:
        lines += ["", f"## Changes since the previous run ({len(report['changes'])})", ""]
        for change in loud or report["changes"][:10]:
            lines.append(
                f"- **{md(change['severity'])}** {md(change['change'].replace('_', ' '))}: "
                f"{md(change['subject'])}"
                + (f" ({md(change['group'])})" if change["group"] else "")
                + (f": {md(change['detail'])}" if change["detail"] else "")
            )
    failed = [x for x in report["rotations"] if x["outcome"] == "failed"]
    if failed:
        lines += ["", "## Failed rotations", ""]
        lines += [f"- {md(x['host'])} {md(x['username'])}: {md(x['status'])}" for x in failed]
    lines += remediation_markdown(report.get("remediation"), md)
    return "\n".join(lines) + "\n"


def md(value: Any) -> str:
    """Text from the client network, made inert for Markdown (and the HTML it may become)."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
    )
    env.filters["ipkey"] = _ip_key
    env.filters["sevclass"] = lambda v: v if v in _SEVERITY_RANK else "info"
    env.filters["sevrank"] = lambda v: _SEVERITY_RANK.get(v, 9)
    return env


def _ip_key(value: Any) -> str:
    """Zero-padded dotted quads sort correctly as text in the browser."""
    parts = str(value or "").split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return ".".join(p.zfill(3) for p in parts)
    return str(value or "")


def _asset(name: str) -> str:
    return resources.files("reports").joinpath("templates", name).read_text(encoding="utf-8")


def _csp_hash(content: str) -> str:
    digest = hashlib.sha256(content.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode()


def _stamp(iso: str) -> str:
    return iso.replace("-", "").replace(":", "").replace("+0000", "Z")


def _inert(value: Any) -> Any:
    """A copy of the report with every string made inert (newlines and tabs kept)."""
    if isinstance(value, str):
        return inert(value, keep_newlines=True)
    if isinstance(value, dict):
        return {key: _inert(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_inert(item) for item in value]
    return value


def _write(path: Path, text: str) -> Path:
    # An unpredictable temporary name renamed into place: a symlink or another user's
    # file planted at the (predictable) report name is refused, never written through.
    return files.write_atomic(path, text)
