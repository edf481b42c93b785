"""`keyturn rotate / verify / secrets` as an operator runs them: crash safety with a real
SIGKILL-like exit mid-rotation, the canary grep over every artefact, prompts and exit codes."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from lab.simulators import control
from rotation.lifecycle import CRASH_ENV
from tests.conftest import KEYTURN
from tests.rotation_helpers import ENABLE, OLD, login_works, pool

__all__ = ["pool"]


class Site:
    """A site config, a targets file and the credential CSV for some pool devices."""

    def __init__(self, tmp_path: Path, env: dict[str, str], devices, password: str = OLD):
        self.tmp, self.env, self.devices = tmp_path, env, devices
        self.config = tmp_path / "site.toml"
        self.config.write_text('client = "acme"\nscope = ["127.0.0.0/8"]\n')
        self.targets = tmp_path / "targets.toml"
        self.targets.write_text(
            "".join(
                f'[[device]]\nhost = "{d.host}"\nport = {d.port}\nplatform = "{d.platform}"\n'
                'username = "admin"\n\n'
                for d in devices
            )
        )
        csv = tmp_path / "creds.csv"
        csv.write_text(
            "host,username,password,enable_secret,platform\n"
            + "".join(f"{d.host},admin,{password},{ENABLE},{d.platform}\n" for d in devices)
        )
        assert self.run("secrets", "import", str(csv)).returncode == 0

    def run(
        self,
        *args: str,
        extra_env: dict[str, str] | None = None,
        stdin: str = "",
        global_args: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess:
        env = {**self.env, **(extra_env or {})}
        return subprocess.run(
            [KEYTURN, "--config", str(self.config), *global_args, *args],
            capture_output=True,
            text=True,
            env=env,
            input=stdin,
            timeout=120,
        )

    def rotate(self, *extra: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run("rotate", "--targets", str(self.targets), "--yes", *extra, **kwargs)

    def reveal(self, device, version: str = "current") -> str | None:
        out = self.run("secrets", "get", device.host, "admin", "--reveal", "--version", version)
        return out.stdout.strip() if out.returncode == 0 else None


@pytest.mark.parametrize("point", ["escrow", "change", "verify"])
@pytest.mark.parametrize("platform", ["cisco_ios", "juniper_junos", "fortinet"])
def test_killed_mid_rotation_then_next_run_reconciles(pool, cli_env, tmp_path, point, platform):
    device = pool.take(platform)
    site = Site(tmp_path, cli_env, [device])
    crashed = site.rotate(extra_env={CRASH_ENV: point})
    assert crashed.returncode == 137, crashed.stderr
    pending = site.reveal(device, "pending")
    assert pending and pending != OLD
    # Whatever the device has now is in the keyring (current or pending): nobody locked out.
    assert login_works(device, OLD) or login_works(device, pending)

    out = tmp_path / "next.json"
    again = site.rotate("--json", str(out))
    assert again.returncode == 0, again.stdout + again.stderr
    [result] = json.loads(out.read_text())["results"]
    assert result["status"] == "rotated"
    audit = (tmp_path / "store" / "client.audit.jsonl").read_text()
    expected = "current_works" if point == "escrow" else "promoted"
    assert f'"outcome": "{expected}"' in audit
    current = site.reveal(device)
    assert site.reveal(device, "pending") is None
    assert login_works(device, current)
    control.reboot(device.state_dir)
    assert login_works(device, current)


def test_canary_no_planted_password_in_any_artefact(pool, cli_env, tmp_path):
    good, rejecting = pool.take("cisco_ios"), pool.take("fortinet")
    site = Site(tmp_path, cli_env, [good, rejecting])
    control.set_faults(rejecting.state_dir, reject_new_password=True)
    log_file = tmp_path / "keyturn.log"
    out = tmp_path / "rotate.json"
    run = site.rotate("--json", str(out), global_args=("-vv", "--log-file", str(log_file)))
    assert run.returncode == 1, run.stderr
    statuses = {r["platform"]: r["status"] for r in json.loads(out.read_text())["results"]}
    assert statuses == {"cisco_ios": "rotated", "fortinet": "failed"}
    verify = site.run("-vv", "verify", "--targets", str(site.targets), "--json", "-")
    new = site.reveal(good)
    planted = [OLD, ENABLE, new]
    artefacts = {
        "stdout+stderr": run.stdout + run.stderr + verify.stdout + verify.stderr,
        "json": out.read_text(),
    }
    for path in (tmp_path / "store").iterdir():
        artefacts[path.name] = path.read_bytes().decode("latin-1")
    artefacts["log"] = log_file.read_text()
    assert "rotate.result" not in artefacts["log"] and ": rotated" in artefacts["log"]
    db = sqlite3.connect(tmp_path / "store" / "client.db")
    artefacts["db rows"] = (
        repr(db.execute("SELECT * FROM rotation_steps").fetchall())
        + repr(db.execute("SELECT * FROM rotations").fetchall())
        + repr(db.execute("SELECT * FROM run_documents").fetchall())
    )
    db.close()
    assert "rejected" in artefacts["json"]  # the device's error text made it, scrubbed
    for name, text in artefacts.items():
        for secret in planted:
            assert secret not in text, f"a planted password leaked into {name}"


def test_refuses_without_yes_when_not_interactive(pool, cli_env, tmp_path):
    device = pool.take("arista_eos")
    site = Site(tmp_path, cli_env, [device])
    run = site.run("rotate", "--targets", str(site.targets))
    assert run.returncode == 2 and "--yes" in run.stderr
    assert site.reveal(device, "pending") is None and login_works(device, OLD)


def test_verify_reports_a_password_changed_outside_keyturn(pool, cli_env, tmp_path):
    ok_device, changed = pool.take("cisco_ios"), pool.take("cisco_ios")
    site = Site(tmp_path, cli_env, [ok_device, changed])
    first = site.run("verify", "--targets", str(site.targets))
    assert first.returncode == 0, first.stdout + first.stderr
    # Someone changes the password by hand, bypassing keyturn.
    from netmiko import ConnectHandler

    conn = ConnectHandler(
        device_type="cisco_ios",
        host=changed.host,
        port=changed.port,
        username="admin",
        password=OLD,
        secret=ENABLE,
    )
    conn.send_config_set(["username admin privilege 15 secret Manual-Change-77"])
    conn.disconnect()
    second = site.run("verify", "--targets", str(site.targets), "--json", "-")
    assert second.returncode == 1
    document = json.loads(second.stdout)
    statuses = {r["host"]: r["status"] for r in document["results"]}
    assert statuses == {ok_device.host: "ok", changed.host: "changed"}


def test_secrets_commands(cli_env, tmp_path):
    config = tmp_path / "site.toml"
    config.write_text('client = "acme"\nscope = ["127.0.0.0/8"]\n')

    def run(*args, env=None):
        return subprocess.run(
            [KEYTURN, "--config", str(config), *args],
            capture_output=True,
            text=True,
            env={**cli_env, **(env or {})},
            timeout=60,
        )

    assert run("secrets", "set", "127.1.1.1", "admin").returncode == 2  # no tty, no env var
    assert (
        run(
            "secrets",
            "set",
            "127.1.1.1",
            "admin",
            "--password-env",
            "PW",
            env={"PW": "Set-By-Env-123"},
        ).returncode
        == 0
    )
    listing = run("secrets", "list").stdout
    assert "admin@127.1.1.1" in listing and "current" in listing
    assert "Set-By-Env-123" not in listing
    assert run("secrets", "get", "127.1.1.1", "admin").returncode == 2  # needs --reveal
    assert (
        run("secrets", "get", "127.1.1.1", "admin", "--reveal").stdout.strip() == "Set-By-Env-123"
    )
    exported = tmp_path / "out.json"
    result = run("secrets", "export", "--format", "bitwarden-json", "--out", str(exported))
    assert result.returncode == 0 and "plaintext" in result.stderr
    assert stat.S_IMODE(os.stat(exported).st_mode) == 0o600
    item = json.loads(exported.read_text())["items"][0]
    assert item["login"] == {
        "username": "admin",
        "password": "Set-By-Env-123",
        "uris": [{"match": None, "uri": "ssh://127.1.1.1"}],
    }
    csv_out = run("secrets", "export", "--format", "csv").stdout
    assert "127.1.1.1,admin,Set-By-Env-123," in csv_out
    audit = (tmp_path / "store" / "client.audit.jsonl").read_text()
    assert '"action": "secrets.reveal"' in audit and "Set-By-Env-123" not in audit


def test_on_a_terminal_rotate_shows_the_plan_and_asks(pool, cli_env, tmp_path):
    import pty
    import select

    device = pool.take("cisco_ios")
    site = Site(tmp_path, cli_env, [device])
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [KEYTURN, "--config", str(site.config), "rotate", "--targets", str(site.targets)],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=site.env,
        close_fds=True,
    )
    os.close(secondary)
    seen = b""
    while b"Rotate 1 password(s)?" not in seen:
        ready, _, _ = select.select([primary], [], [], 30)
        assert ready, f"no prompt; got {seen!r}"
        seen += os.read(primary, 4096)
    assert f"admin@{device.host}".encode() in seen  # the plan lists the device
    os.write(primary, b"n\n")
    assert proc.wait(timeout=30) == 2
    os.close(primary)
    assert site.reveal(device, "pending") is None and login_works(device, OLD)


def test_all_failed_is_exit_3_with_the_json_contract(cli_env, tmp_path):
    from tests.rotation_helpers import Device, free_port

    # Nothing listens on this address; the site's scope excludes it anyway.
    nowhere = Device("nowhere", "cisco_ios", "127.5.0.1", free_port("127.5.0.1"), tmp_path)
    site = Site(tmp_path, cli_env, [nowhere])
    site.config.write_text('client = "acme"\nscope = ["127.5.0.0/24"]\nexclude = ["127.5.0.1"]\n')
    out = tmp_path / "rotate.json"
    run = site.rotate("--json", str(out))
    assert run.returncode == 3, run.stderr
    document = json.loads(out.read_text())
    assert isinstance(document["run_id"], int)
    [result] = document["results"]
    assert set(result) >= {
        "host",
        "platform",
        "username",
        "status",
        "verified",
        "saved",
        "old_password_refused",
        "error",
    }
    assert result["status"] == "failed" and "refused before connecting" in result["error"]
    site.config.write_text('client = "acme"\nscope = ["127.5.0.0/24"]\n')
    verify = site.run("verify", "--targets", str(site.targets))
    assert verify.returncode == 3 and "cannot connect" in verify.stdout
