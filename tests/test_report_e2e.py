"""End to end with the real producers: two real ``keyturn discover`` runs (ARP + nmap) over
namespaces this module builds, with changes planted in between, the real rotation recorder and
checklist, then ``keyturn report``. Addresses in 198.18.40.0/24, inside our namespaces only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from inventory import checklist
from inventory.rotations import RotationRecorder
from inventory.store import Store
from lab import netns
from tests.conftest import KEYTURN

pytestmark = pytest.mark.lab

NET = "198.18.40"
TECH_IP = f"{NET}.250"
# nmap's http-title stops at "<", so the planted title breaks out of attributes and cells.
TITLE = '=HYPERLINK("http://x","y") " onmouseover="alert(1)'
# A TCP listener that answers HTTP with a planted <title>, or just accepts.
SERVER = """
import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], port)); s.listen(16)
    while True:
        c, _ = s.accept()
        try:
            c.settimeout(5); c.recv(4096)
            body = "<html><head><title>%s</title></head><body>ok</body></html>" % sys.argv[2]
            c.sendall(("HTTP/1.0 200 OK\\r\\nContent-Type: text/html\\r\\nContent-Length: %d"
                       "\\r\\n\\r\\n%s" % (len(body), body)).encode())
        except OSError: pass
        finally: c.close()
for port in sys.argv[3:]:
    threading.Thread(target=serve, args=(int(port),), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""


class Site:
    def __init__(self) -> None:
        self.prefix = f"ktr{os.getpid() % 100000}"
        self.namespaces: list[str] = []
        self.procs: dict[str, list[subprocess.Popen]] = {}
        self.bridge = self._create("br")
        netns.add_bridge(self.bridge, "br0")
        self.tech = self._create("tech")
        self._plug(self.tech, "vtech", TECH_IP, None)

    def _create(self, name: str) -> str:
        full = f"{self.prefix}-{name}"
        netns.create(full)
        self.namespaces.append(full)
        return full

    def _plug(self, ns: str, outer: str, ip: str, mac: str | None) -> None:
        netns.add_veth(ns, "eth0", outer, self.bridge, mac=mac, address=f"{ip}/24")
        netns.attach_to_bridge(self.bridge, outer, "br0")

    def add_host(self, name: str, ip: str, mac: str, ports: list[int]) -> None:
        ns = self._create(name)
        self._plug(ns, f"v{name}", ip, mac)
        self.procs[name] = []
        self.listen(name, ip, ports)

    def listen(self, name: str, ip: str, ports: list[int]) -> None:
        ns = f"{self.prefix}-{name}"
        proc = subprocess.Popen(
            [*netns.exec_prefix(ns), sys.executable, "-c", SERVER, ip, TITLE, *map(str, ports)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs[name].append(proc)
        assert proc.stdout.readline().strip() == "ready"

    def remove_host(self, name: str) -> None:
        for proc in self.procs.pop(name):
            _stop(proc)
        ns = f"{self.prefix}-{name}"
        netns.delete(ns)
        self.namespaces.remove(ns)

    def teardown(self) -> None:
        for name in list(self.procs):
            for proc in self.procs.pop(name):
                _stop(proc)
        for ns in reversed(self.namespaces):
            netns.delete(ns)


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture(scope="module")
def site():
    built = Site()
    try:
        built.add_host("a", f"{NET}.10", "00:00:0c:40:00:10", [22, 80])
        built.add_host("b", f"{NET}.11", "00:09:0f:40:00:11", [22])
        built.add_host("c", f"{NET}.12", "3c:2a:f4:40:00:12", [9100])
        yield built
    finally:
        built.teardown()


def discover(site: Site, env: dict[str, str]) -> dict:
    result = subprocess.run(
        [
            *netns.exec_prefix(site.tech),
            KEYTURN,
            "--non-interactive",
            "discover",
            "--scope",
            f"{NET}.0/24",
            "--ports",
            "22,80,443,8080,9100",
            "--json",
            "-",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_report_over_real_discover_runs(site, cli_env, tmp_path):
    env = cli_env
    first = discover(site, env)
    assert {h["ip"] for h in first["hosts"]} == {f"{NET}.10", f"{NET}.11", f"{NET}.12"}

    # Plant: .12 gone, .13 new, 8080 opened on .11, and .10 answering from another MAC.
    site.remove_host("c")
    site.add_host("d", f"{NET}.13", "52:54:00:40:00:13", [22])
    site.listen("b", f"{NET}.11", [8080])
    site.remove_host("a")
    site.add_host("a2", f"{NET}.10", "de:ad:be:ef:40:10", [22, 80])
    second = discover(site, env)
    assert {h["ip"] for h in second["hosts"]} == {f"{NET}.10", f"{NET}.11", f"{NET}.13"}

    store_path = Path(env["KEYTURN_STORE"])
    with Store(store_path) as store:
        with store.run("rotate", "tester", "default") as run_id:
            recorder = RotationRecorder(store, run_id)
            recorder.step(f"{NET}.11", "fortinet", "admin", "change", "ok")
            recorder.finish(
                {
                    "host": f"{NET}.11",
                    "platform": "fortinet",
                    "username": "admin",
                    "status": "rotated",
                    "verified": True,
                    "saved": True,
                    "old_password_refused": True,
                    "error": None,
                }
            )
        checklist.prefill(store, discover_run=second["run_id"])
        rotation_id = store.db.execute("SELECT id FROM rotations").fetchone()[0]
        checklist.mark_rotated(store, f"{NET}.11", "admin", rotation_id, "tester")

    out = tmp_path / "out"
    result = subprocess.run(
        [
            KEYTURN,
            "report",
            "--format",
            "json",
            "--format",
            "html",
            "--format",
            "csv",
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    paths = [Path(p) for p in result.stdout.split()]
    document = json.loads(next(p for p in paths if p.suffix == ".json").read_text())
    assert document["runs"]["discover"]["id"] == second["run_id"]
    assert document["runs"]["baseline"]["discover"]["id"] == first["run_id"]
    found = {(c["change"], c["subject"]) for c in document["changes"]}
    assert found >= {
        ("host_gone", f"{NET}.12"),
        ("host_added", f"{NET}.13"),
        ("port_opened", f"{NET}.11"),
        ("mac_changed", f"{NET}.10"),
    }, found
    assert document["summary"]["rotations"]["done"] == 1
    assert document["rotations"][0]["operator"] == "tester"
    assert document["checklist"]["cis_4_7"]["no_longer_inherited"] >= 1

    html = next(p for p in paths if p.suffix == ".html").read_text()
    hosts_csv = next(p for p in paths if p.name == "hosts.csv").read_text(encoding="utf-8-sig")
    titles = [h["http_title"] for h in document["hosts"] if h["http_title"]]
    assert TITLE in titles  # through real nmap, discover and the store
    assert "&#34; onmouseover=&#34;alert(1)" in html and 'onmouseover="' not in html
    assert '"\'=HYPERLINK(""http://x"",""y"") "" onmouseover=""alert(1)"' in hosts_csv
