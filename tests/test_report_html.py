"""The HTML report opened in real headless Chromium, driven over the DevTools protocol.

Chromium talks CDP over a pipe (--remote-debugging-pipe: commands on fd 3, replies on fd 4,
NUL-separated JSON), so no port is opened and no websocket library is needed.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from inventory.audit import AuditLog
from inventory.store import Store
from reports.model import build_report
from reports.render import write_reports
from tests.report_fixtures import FORMULA, IMG, SCRIPT, add_remediation_runs, populate

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]


class Browser:
    """A Chromium process and one attached page session."""

    def __init__(self, profile: Path, log: Path) -> None:
        to_child_r, self._to_child = _pipe_high()
        self._from_child, from_child_w = _pipe_high()

        def wire_fds() -> None:
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.log = log
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            pass_fds=(3, 4),
            preexec_fn=wire_fds,
            start_new_session=True,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.events: list[dict[str, Any]] = []
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self._attach()
        except BaseException:
            self.close()
            raise

    def _attach(self) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=self.session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
            session=self.session,
        )

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_child, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                buffer += chunk
                while b"\0" in buffer:
                    raw, buffer = buffer.split(b"\0", 1)
                    message = json.loads(raw)
                    if "id" in message:
                        self._replies.put(message)
                    else:
                        self.events.append(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 30
        while True:
            reply = self._replies.get(timeout=max(0.1, deadline - time.monotonic()))
            if reply["id"] == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def page(self, method: str, params: dict | None = None) -> dict:
        return self.call(method, params, session=self.session)

    def evaluate(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        self.events.clear()
        self.page("Page.navigate", {"url": url})
        deadline = time.monotonic() + 20
        while not any(e["method"] == "Page.loadEventFired" for e in self.events):
            assert time.monotonic() < deadline, "page did not load"
            time.sleep(0.05)
        time.sleep(0.3)  # let late console messages and requests arrive

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element (after scrolling it into view)."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.page(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1},
            )

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError, queue.Empty):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the session this test started
            self.proc.wait(timeout=10)
        os.close(self._to_child)


def _pipe_high() -> tuple[int, int]:
    # Move both ends above fd 4 so wiring them to 3 and 4 in the child never clobbers one.
    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD, 10))
        os.close(fd)
    return ends[0], ends[1]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("html-report")
    store = Store(tmp / "acme.db")
    populate(store)
    add_remediation_runs(store)
    audit = AuditLog(tmp / "acme.audit.jsonl", bytes(range(32)), store, "alice")
    audit.append("discover.run", "198.18.0.0/24", "ok", run_id=1)
    report = build_report(store, client="acme", operator="alice", audit=audit.verify())
    (html,) = write_reports(report, ["html"], tmp / "out")
    store.close()
    browser = Browser(tmp / "profile", tmp / "chromium.log")
    try:
        browser.navigate(html.as_uri())
        yield browser, html, tmp
    finally:
        browser.close()
    assert browser.proc.poll() is not None


def test_no_console_errors_no_network_no_dialogs(loaded):
    browser, html, _ = loaded
    methods = [e["method"] for e in browser.events]
    errors = [
        e
        for e in browser.events
        if (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or e["method"] == "Runtime.exceptionThrown"
        or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert errors == []
    requests = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e["method"] == "Network.requestWillBeSent"
    ]
    assert requests == [html.as_uri()]
    assert "Page.javascriptDialogOpening" not in methods
    # The inline script ran under the page's CSP (its hash matched): the tables are sortable.
    assert browser.evaluate("document.querySelectorAll('table.sortable th').length") > 20


def test_planted_markup_is_text_not_dom(loaded):
    browser, _, _ = loaded
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    assert browser.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert browser.evaluate("document.querySelectorAll('script').length") == 1
    text = browser.evaluate("document.body.innerText")
    for planted in (SCRIPT, IMG, FORMULA):
        assert planted in text
    hosts_text = browser.evaluate("document.getElementById('hosts-table').innerText")
    assert SCRIPT in hosts_text and IMG in hosts_text  # SNMP sysDescr and hostname cells
    findings_text = browser.evaluate("document.getElementById('findings-table').innerText")
    assert SCRIPT in findings_text  # an AD account description


def test_clicking_a_header_sorts_the_hosts_table(loaded):
    browser, _, _ = loaded
    column = (
        "[...document.querySelectorAll('#hosts-table tbody tr')].map(r => r.cells[2].innerText)"
    )
    ips = "[...document.querySelectorAll('#hosts-table tbody tr')].map(r => r.cells[0].innerText)"
    before = browser.evaluate(ips)
    assert before[:3] == ["198.18.0.1", "198.18.0.2", "198.18.0.3"]
    browser.click("#hosts-table thead th:nth-child(3)")
    vendors = browser.evaluate(column)
    assert vendors == sorted(vendors, key=str.lower)
    assert vendors[0] == ""  # the host whose MAC changed has no vendor
    browser.click("#hosts-table thead th:nth-child(3)")
    assert browser.evaluate(column) == sorted(vendors, key=str.lower, reverse=True)
    browser.click("#hosts-table thead th:nth-child(1)")
    # IPs sort numerically (198.18.0.10 after .3), not as text.
    assert browser.evaluate(ips) == before


def test_filter_hides_rows(loaded):
    browser, _, _ = loaded
    visible = (
        "[...document.querySelectorAll('#hosts-table tbody tr')]"
        ".filter(r => r.style.display !== 'none').length"
    )
    browser.click("input[data-table='hosts-table']")
    browser.page("Input.insertText", {"text": "fortinet"})
    assert browser.evaluate(visible) == 1
    browser.evaluate(
        "(() => { const i = document.querySelector(\"input[data-table='hosts-table']\");"
        " i.value = ''; i.dispatchEvent(new Event('input')); })()"
    )
    assert browser.evaluate(visible) == 7


def test_changes_section_shows_planted_changes(loaded):
    browser, _, _ = loaded
    rows = browser.evaluate(
        "[...document.querySelectorAll('#changes-table tbody tr')]"
        ".map(r => [...r.cells].map(c => c.innerText))"
    )
    seen = {(r[1], r[2]) for r in rows}
    assert {
        ("host added", "198.18.0.50"),
        ("host gone", "198.18.0.20"),
        ("port opened", "198.18.0.2"),
        ("port closed", "198.18.0.1"),
        ("mac changed", "198.18.0.40"),
        ("privileged member added", "mallory"),
    } <= seen
    loud = browser.evaluate(
        "[...document.querySelectorAll('#changes-table tr.loud')].map(r => r.cells[1].innerText)"
    )
    assert sorted(loud) == ["mac changed", "privileged member added"]
    assert "2 critical changes" in browser.evaluate("document.getElementById('summary').innerText")


def test_audit_and_controls_sections(loaded):
    browser, _, _ = loaded
    assert "audit log intact: 1 entries" in browser.evaluate(
        "document.getElementById('audit').innerText"
    )
    controls = browser.evaluate(
        "[...document.querySelectorAll('#controls-table tbody tr')]"
        ".map(r => [r.cells[1].innerText, r.cells[3].innerText])"
    )
    assert ["6.5", "not evidenced"] in controls and ["A.8.15", "evidenced"] in controls
    assert len(controls) == 17


def test_screenshot_looks_like_a_report(loaded):
    browser, _, tmp = loaded
    browser.evaluate("window.scrollTo(0, 0)")
    shot = browser.page("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path = tmp / "report.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    print(f"screenshot: {path}")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 50_000
    pdf = browser.page("Page.printToPDF", {"printBackground": False})
    assert len(pdf["data"]) > 10_000  # the print stylesheet renders without error


def test_acl_evidence_and_remediation_sections(loaded):
    browser, _, _ = loaded
    findings = browser.evaluate("document.getElementById('findings-table').innerText")
    # The ACE is shown as text: its planted <b> is no element, its escape byte is gone.
    assert "allow GENERIC_ALL to ACME\\old<b>prov</b>" in findings
    assert browser.evaluate("document.querySelectorAll('#findings-table b').length") == 0
    assert "\x1b" not in findings
    rows = browser.evaluate(
        "[...document.querySelectorAll('#remediation-table tbody tr')].map(r => r.innerText)"
    )
    assert len(rows) == 3
    assert "disable_account" in rows[0] and "alice" in rows[0] and "yes (run" in rows[0]
    assert "skipped" in rows[1] and SCRIPT in rows[1]
    assert "reset_krbtgt" in rows[2] and "not reversible" in rows[2]
    assert browser.evaluate("document.querySelectorAll('#remediation-table script').length") == 0
