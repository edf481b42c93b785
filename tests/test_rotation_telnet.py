"""Rotation over telnet (issue 15): only when a target says `transport = "telnet"`, with
netmiko's own cisco_ios_telnet session, a fresh telnet login as the proof, and the clear-text
risk said in the plan, the result and every event."""

from __future__ import annotations

import json
import socket
import subprocess

from inventory import hosts
from inventory.store import Store
from lab.simulators import launch
from tests.conftest import KEYTURN
from tests.rotation_helpers import ENABLE, OLD, Harness, pool  # noqa: F401 - the fixture
from tests.rotation_helpers import Device as SimDevice


def telnet_login_works(host: str, password: str, user: str = "admin", port: int = 23) -> bool:
    """An independent telnet login (not the driver's): True at a CLI prompt."""
    from netmiko._telnetlib import telnetlib

    with telnetlib.Telnet(host, port, 10) as conn:
        conn.read_until(b"Username: ", 10)
        conn.write(user.encode() + b"\r")
        conn.read_until(b"Password: ", 10)
        conn.write(password.encode() + b"\r")
        index, _, text = conn.expect([rb"[>#]\s*$", rb"Login invalid"], 10)
    assert index != -1, text
    return index == 0


def ssh_refused(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(5)
        return sock.connect_ex((host, port)) != 0


def test_a_telnet_only_ios_device_is_rotated_over_telnet(pool, keyring_env, tmp_path):  # noqa: F811
    device = pool.take("telnet-cisco_ios")
    assert ssh_refused(device.host, device.port)  # its SSH port is not listening
    h = Harness(tmp_path)
    h.seed(device)
    target = device.target(transport="telnet", port=device.telnet_port)
    [plan] = h.rotate(target, dry_run=True)
    assert plan.status == "unchanged", plan.error
    assert "over telnet" in plan.plan and "in clear" in plan.plan
    [result] = h.rotate(target)
    assert result.status == "rotated", result.error
    assert result.verified and result.saved and result.old_password_refused is True
    assert result.as_dict()["transport"] == "telnet"
    assert {e.detail.get("transport") for e in h.events} == {"telnet"}
    new = h.stored(device)
    assert new and new != OLD
    assert telnet_login_works(device.host, new, port=device.telnet_port)
    assert not telnet_login_works(device.host, OLD, port=device.telnet_port)
    assert device.saved_password_is(new)


def test_a_telnet_target_never_falls_back_to_ssh(pool, keyring_env, tmp_path):  # noqa: F811
    """An SSH-only device named with transport = telnet fails; nothing is sent over SSH."""
    device = pool.take("cisco_ios")
    h = Harness(tmp_path)
    h.seed(device)
    # Nothing listens on port 23 of its address (the pool's SSH is on another port).
    [result] = h.rotate(device.target(transport="telnet", port=23))
    assert result.status == "failed"
    assert device.login_works(OLD)


def test_from_inventory_refuses_telnet_without_allow_telnet(cli_env, tmp_path):
    router = SimDevice("tel-router", "cisco_ios", "127.4.1.1", 23, tmp_path / "router")
    spec = {
        "devices": [
            {
                "name": router.name,
                "platform": "cisco_ios",
                "listen": f"{router.host}:22",
                "ssh": False,
                "telnet_port": 23,
                "state_dir": str(router.state_dir),
                "hostname": "tel",
                "users": {"admin": {"password": OLD}},
                "enable_secret": ENABLE,
            }
        ]
    }
    sim = launch(spec, tmp_path / "spec.json")
    try:
        store = Store(tmp_path / "store" / "client.db")
        run_id = store.begin_run("discover", "tester", "acme")
        port = {"port": 23, "proto": "tcp", "state": "open", "service": "telnet"}
        record = {
            "ip": router.host,
            "mac": "02:00:00:00:01:01",
            "device_class": "router",
            "platform": "cisco_ios",
            "ports": [port],
        }
        hosts.save(store, run_id, {"hosts": [record]})
        store.finish_run(run_id, "ok")
        store.close()
        config = tmp_path / "site.toml"
        config.write_text('client = "acme"\nscope = ["127.0.0.0/8"]\n')
        csv = tmp_path / "creds.csv"
        csv.write_text(
            f"host,username,password,enable_secret,platform\n"
            f"{router.host},admin,{OLD},{ENABLE},cisco_ios\n"
        )

        def keyturn(*args):
            return subprocess.run(
                [KEYTURN, "--config", str(config), *args],
                env=cli_env,
                capture_output=True,
                text=True,
                timeout=180,
            )

        assert keyturn("secrets", "import", str(csv)).returncode == 0
        refused = keyturn("rotate", "--from-inventory", "--yes")
        assert refused.returncode == 2
        [line] = refused.stderr.strip().splitlines()
        assert "--allow-telnet" in line and "in clear" in line
        assert telnet_login_works(router.host, OLD)

        run = keyturn("rotate", "--from-inventory", "--allow-telnet", "--yes", "--json", "-")
        assert run.returncode == 0, run.stderr
        [result] = json.loads(run.stdout)["results"]
        assert (result["status"], result["transport"]) == ("rotated", "telnet")
        new = keyturn("secrets", "get", router.host, "admin", "--reveal").stdout.strip()
        assert telnet_login_works(router.host, new) and not telnet_login_works(router.host, OLD)
    finally:
        sim.terminate()
        sim.wait()


def test_rotate_help_names_allow_telnet(cli_env):
    run = subprocess.run([KEYTURN, "rotate", "--help"], env=cli_env, capture_output=True, text=True)
    assert "--allow-telnet" in run.stdout
