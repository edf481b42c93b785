"""keyturn doctor: one ok|FAIL line per check, non-zero exit on any failure."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from agent.context import AppContext
from agent.ops import doctor
from tests.conftest import KEYTURN

CHECKS = ["nmap", "raw-sockets", "keyring", "config", "store", "audit-log", "clock"]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "acme.toml"
    path.write_text('client = "acme"\nscope = ["198.18.0.0/24"]\n')
    return path


def run_doctor(env: dict, *args: str) -> tuple[int, dict[str, tuple[str, str]], float]:
    started = time.monotonic()
    result = subprocess.run(
        [KEYTURN, *args, "doctor"], capture_output=True, text=True, env=env, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    lines = {}
    for line in result.stdout.splitlines():
        verdict, rest = line.split(" ", 1)
        name, detail = rest.split(": ", 1)
        lines[name] = (verdict, detail)
    return result.returncode, lines, time.monotonic() - started


def test_a_ready_machine_passes_every_check(cli_env, site):
    code, lines, _seconds = run_doctor(cli_env, "--config", str(site))
    assert list(lines) == CHECKS
    assert all(verdict == "ok" for verdict, _detail in lines.values()), lines
    assert code == 0
    assert "Nmap" not in lines["nmap"][1] and "version 7." in lines["nmap"][1]
    assert "CryptFileKeyring" in lines["keyring"][1]


def test_a_locked_keyring_fails_at_once_instead_of_prompting(cli_env, site):
    env = dict(cli_env)
    del env["KEYRING_CRYPTFILE_PASSWORD"]
    code, lines, seconds = run_doctor(env, "--config", str(site))
    assert code == 1 and seconds < 10
    assert lines["keyring"][0] == "FAIL" and "KEYTURN_KEYRING_PASSWORD_FILE" in lines["keyring"][1]
    assert lines["nmap"][0] == "ok"  # the other checks still ran


def test_the_keyring_password_file_must_be_owner_only(cli_env, site, tmp_path):
    env = dict(cli_env)
    del env["KEYRING_CRYPTFILE_PASSWORD"]
    password_file = tmp_path / "keyring.pass"
    password_file.write_text(cli_env["KEYRING_CRYPTFILE_PASSWORD"] + "\n")
    env["KEYTURN_KEYRING_PASSWORD_FILE"] = str(password_file)
    password_file.chmod(0o644)
    code, lines, _seconds = run_doctor(env, "--config", str(site))
    assert code == 1 and "chmod 600" in lines["keyring"][1]
    password_file.chmod(0o600)
    code, lines, _seconds = run_doctor(env, "--config", str(site))
    assert lines["keyring"][0] == "ok", lines
    assert code == 0


def test_a_plaintext_keyring_is_refused(cli_env, site):
    env = dict(cli_env, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    code, lines, _seconds = run_doctor(env, "--config", str(site))
    assert code == 1 and lines["keyring"][0] == "FAIL"
    assert "PYTHON_KEYRING_BACKEND=keyrings.cryptfile" in lines["keyring"][1]


def test_a_tampered_audit_log_and_an_empty_scope_fail(cli_env, tmp_path):
    site = tmp_path / "empty.toml"
    site.write_text('client = "acme"\n')
    for target in ("VPN portal", "ISP portal"):  # two entries: one edited, one intact
        subprocess.run(
            [KEYTURN, "--config", str(site), "checklist", "add", "--kind", "web_portal",
             "--target", target],
            env=cli_env, check=True, capture_output=True,
        )  # fmt: skip
    log = Path(cli_env["KEYTURN_STORE"]).with_name("client.audit.jsonl")
    log.write_text(log.read_text().replace("VPN portal", "VPN portaI"))
    code, lines, _seconds = run_doctor(cli_env, "--config", str(site))
    assert code == 1
    assert lines["audit-log"][0] == "FAIL" and "edited" in lines["audit-log"][1]
    assert lines["config"][0] == "FAIL" and "scope is empty" in lines["config"][1]


def test_a_clock_in_the_past_fails(monkeypatch, tmp_path):
    app = AppContext(store_path=str(tmp_path / "s.db"))
    monkeypatch.setattr(doctor.time, "time", lambda: 978307200.0)  # 2001-01-01
    assert doctor.check_clock(app) == (
        False,
        "the clock says 2001: set the time (audit entries carry it)",
    )
    newest = max(p.stat().st_mtime for p in Path(doctor.__file__).parent.glob("*.py"))
    monkeypatch.setattr(doctor.time, "time", lambda: max(newest - 86400, 1735689600.0))
    ok, detail = doctor.check_clock(app)
    assert not ok and "behind" in detail
