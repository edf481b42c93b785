"""Issue 13 items 7 and 8 (the parts that need no whole lab): a lab's config outside its
technician namespace, what child processes inherit, truthful scopes, a damaged store, the
global --scope and schema-checked lab passwords."""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from agent.core import procs
from agent.core.scope import ScopeGuard
from inventory.store import Store
from rotation.drivers import DRIVERS, driver_for
from tests.conftest import KEYTURN

CANARY = "canary-" + secrets.token_hex(8)


def keyturn(env, *args, prefix=(), cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, KEYTURN, *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip


def one_line(result: subprocess.CompletedProcess, code: int, message: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


# -- labs stay labs -------------------------------------------------------------------------


@pytest.fixture
def fake_lab(tmp_path: Path):
    """A technician namespace of a lab id nobody uses and a site config bound to it, as
    `lab up` writes it (no lab needed: the check compares namespaces, nothing else)."""
    if os.geteuid() != 0:
        pytest.fail("needs root (network namespaces), as the lab does")
    while True:
        lab_id = "kt" + secrets.token_hex(3)
        if not Path(f"/run/netns/{lab_id}-tech").exists():
            break
    netns = f"{lab_id}-tech"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        config = tmp_path / "site.toml"
        config.write_text(
            f'client = "lab-{lab_id}"\nscope = ["198.18.0.0/24"]\n\n'
            f'[lab]\nid = "{lab_id}"\ntechnician_netns = "{netns}"\n'
        )
        (tmp_path / "targets.toml").write_text(
            '[[device]]\nhost = "198.18.0.2"\nplatform = "cisco_ios"\nusername = "admin"\n'
        )
        yield lab_id, netns, config
    finally:
        subprocess.run(["ip", "netns", "delete", netns], check=False)


@pytest.mark.parametrize(
    "args",
    [
        ["rotate", "--targets", "targets.toml", "--dry-run"],
        ["discover", "--no-nmap"],
        ["secrets", "list"],
        ["report"],
        ["doctor"],
    ],
)
def test_a_lab_config_is_refused_outside_its_lab(cli_env, fake_lab, args, tmp_path):
    lab_id, _netns, config = fake_lab
    result = keyturn(cli_env, "--config", str(config), *args, cwd=tmp_path)
    one_line(result, 2, f"belongs to lab {lab_id} and runs only inside it")
    assert not Path(cli_env["KEYTURN_STORE"]).exists()  # refused before the store opened


def test_a_lab_config_works_inside_its_technician_namespace(cli_env, fake_lab):
    _lab_id, netns, config = fake_lab
    inside = keyturn(cli_env, "--config", str(config), "secrets", "list",
                     prefix=("ip", "netns", "exec", netns))  # fmt: skip
    assert inside.returncode == 0, inside.stderr
    assert procs.in_netns(netns) is False  # this test process runs in the root namespace


# -- child environment ----------------------------------------------------------------------


def test_child_env_is_an_allowlist(monkeypatch):
    monkeypatch.setenv("KEYRING_CRYPTFILE_PASSWORD", CANARY)
    monkeypatch.setenv("VAULT_TOKEN", CANARY)
    monkeypatch.setenv("ACME_AD_PW", CANARY)  # an [ad] password_env of any name
    env = procs.child_env(EXTRA="1")
    assert CANARY not in env.values()
    assert env["EXTRA"] == "1" and env["PATH"]
    assert set(env) <= {*procs.CHILD_ENV_NAMES, "EXTRA"}


def test_nmap_runs_without_the_callers_secrets(monkeypatch):
    """nmap's /proc/PID/environ, read while it scans loopback, lacks the canary."""
    from agent.discovery import nmapscan

    monkeypatch.setenv("KEYRING_CRYPTFILE_PASSWORD", CANARY)
    monkeypatch.setenv("ACME_AD_PW", CANARY)
    seen: list[bytes] = []
    done = threading.Event()

    def watch() -> None:
        me = os.getpid()
        while not done.is_set():
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    stat = Path(entry.path, "stat").read_text()
                    if "(nmap)" in stat and int(stat.rsplit(")", 1)[1].split()[1]) == me:
                        seen.append(Path(entry.path, "environ").read_bytes())
                except (OSError, ValueError, IndexError):
                    continue
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        # Loopback only; --scan-delay keeps nmap alive long enough to be read.
        run = nmapscan.run_nmap(["127.0.0.1"], "-n -Pn -sT -p 1-8 --scan-delay 100ms",
                                ScopeGuard(["127.0.0.1/32"]))  # fmt: skip
    finally:
        done.set()
        watcher.join()
    assert "127.0.0.1" in run.hosts
    assert seen, "nmap was never seen running"
    assert all(CANARY.encode() not in environ for environ in seen)
    assert all(b"PATH=" in environ for environ in seen)


# -- truthful scope, doctor, damaged store -------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["discover", "--scope", "fd00::/64"], "IPv6 scope fd00::/64"),
        (["discover", "--scope", "198.18.0.0/24", "--exclude", "198.18.0.0/24"],
         "the exclusions leave no address to sweep"),
        (["--scope", "198.18.0.0/30", "discover", "--exclude", "198.18.0.1",
          "--exclude", "198.18.0.2"], "the exclusions leave no address to sweep"),
        (["--scope", "fd00::/64", "discover"], "IPv6 scope"),
        (["--scope", "198.18.0.0/33", "discover"], "not a valid CIDR"),
    ],
)  # fmt: skip
def test_a_scope_discovery_cannot_cover_is_one_line(cli_env, args, message):
    one_line(keyturn(cli_env, *args), 2, message)
    store = Path(cli_env["KEYTURN_STORE"])
    if store.exists():
        with sqlite3.connect(store) as db:
            assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 0  # no "0 hosts"


def test_the_empty_scope_error_names_the_flag_and_the_flag_works(cli_env):
    env = {**cli_env, "ACME_PW": "x"}
    ad = ["ad", "--server", "198.18.0.10", "--user", "audit@acme.test", "--password-env",
          "ACME_PW"]  # fmt: skip
    one_line(keyturn(env, *ad), 2, "the scope is empty")
    assert "--scope CIDR" in keyturn(env, *ad).stderr
    # With --scope the same command gets past the scope: 198.18.0.10 is now outside it.
    one_line(keyturn(env, "--scope", "198.18.0.0/30", *ad), 2,
             "198.18.0.10 is outside the authorised scope (198.18.0.0/30)")  # fmt: skip


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ('["8.8.8.0/24"]', "public address range in scope"),
        ('["fd00::/64"]', "IPv6 scope"),
        ('["10.0.0.0/8"]', "more than the"),
    ],
)
def test_doctor_applies_discovers_scope_rules(cli_env, tmp_path, scope, message):
    site = tmp_path / "site.toml"
    site.write_text(f'client = "acme"\nscope = {scope}\n')
    discover = keyturn(cli_env, "--config", str(site), "discover")
    assert discover.returncode == 2 and message in discover.stderr
    doctor = keyturn(cli_env, "--config", str(site), "doctor")
    assert doctor.returncode == 1
    line = next(x for x in doctor.stdout.splitlines() if " config: " in x)
    assert line.startswith("FAIL config:") and message in line


def damage(path: Path) -> None:
    """Overwrite one page in the middle of the file (the header stays valid)."""
    with sqlite3.connect(path) as db:
        page = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    assert pages > 4
    with open(path, "r+b") as handle:
        handle.seek(page * (pages // 2))
        handle.write(b"\xa5" * page)


def test_a_damaged_store_is_one_line_for_every_reading_command(cli_env, tmp_path):
    path = Path(cli_env["KEYTURN_STORE"])
    path.parent.mkdir(parents=True)
    with Store(path) as store, store.transaction() as db:
        run_id = store.begin_run("discover", "tester", "default")
        db.executemany(
            "INSERT INTO runs (started, command, operator, host, status, client)"
            " VALUES ('2026-01-01T00:00:00Z', 'discover', ?, 'h', 'ok', 'default')",
            [(f"operator-{'x' * 300}-{i}",) for i in range(400)],
        )
        assert run_id
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    damage(path)
    for args in (["report"], ["checklist"], ["audit", "show"], ["secrets", "list"]):
        result = keyturn(cli_env, *args)
        if args == ["secrets", "list"]:
            assert result.returncode == 0  # reads the keyring, not the store
            continue
        one_line(result, 3, "the store is damaged")
    doctor = keyturn(cli_env, "doctor")
    assert doctor.returncode == 1
    assert re.search(r"^FAIL store: .*the store is damaged", doctor.stdout, re.MULTILINE)


# -- lab passwords --------------------------------------------------------------------------


@pytest.mark.parametrize("platform", [None, *sorted(DRIVERS)])
def test_lab_passwords_satisfy_each_policy_by_construction(platform):
    from lab.records import password as _password
    from lab.samba_dc import _password as samba_password
    from rotation.policy import PasswordPolicy

    policy = driver_for(platform).policy if platform else PasswordPolicy()
    classes = ("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789")
    for _ in range(300):
        value = _password(platform)
        assert policy.accepts(value)
        assert all(any(c in group for c in value.reveal()) for group in classes)
    for _ in range(300):
        # Samba: three of four classes (the DC refused one lab up in four without them).
        value = samba_password().reveal()
        assert sum(any(c in group for c in value) for group in classes) == 3
