"""Device simulators driven by unchanged netmiko: rotate, save, verify, reboot, faults.

One simulator process (started with lab.simulators.launch) serves every device on a
loopback address of this pytest-xdist worker's own; each test owns its devices, so tests
stay independent and any order works.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import paramiko
import pytest
from netmiko import ConnectHandler
from netmiko.exceptions import NetmikoAuthenticationException

from lab.simulators import launch
from lab.simulators.control import (
    clear_faults,
    host_key_fingerprint,
    reboot,
    set_faults,
    verify_saved_password,
)
from lab.simulators.state import hash_password
from tests.xdist_worker import worker_index

OLD, NEW = "Old-pass-1", "New-pass-2"
ENABLE_OLD, ENABLE_NEW = "en-old-1", "en-new-2"
PLATFORMS = [
    "cisco_ios",
    "cisco_asa",
    "cisco_nxos",
    "arista_eos",
    "juniper_junos",
    "fortinet",
    "mikrotik_routeros",
]
CISCO_FAMILY = {"cisco_ios", "cisco_asa", "cisco_nxos", "arista_eos"}
WITH_ENABLE = {"cisco_ios", "cisco_asa", "arista_eos"}
FAULTS = ["reject_new_password", "drop_after_change", "fail_save"]
SHA1_KEX = {
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group1-sha1",
    "diffie-hellman-group-exchange-sha1",
}
# Pseudo-algorithms that only announce protocol extensions.
KEX_MARKERS = {"ext-info-s", "kex-strict-s-v00@openssh.com"}
PROMPT = r"[#>$]\s*$"

# device name -> platform; every test gets its own device(s).
DEVICES = {
    **{f"rot-{p}": p for p in PLATFORMS},
    **{f"unsaved-{p}": p for p in PLATFORMS},
    **{f"{f}-{p}": p for p in PLATFORMS for f in FAULTS},
    "legacy": "cisco_ios",
    "modern": "cisco_ios",
    "login": "arista_eos",
    "slow": "cisco_ios",
}


# Not 127.0.0.1: a port found free there was taken by another process (another worker's
# connection to a 127.0.0.1 service uses ports of the same range) before the simulators
# bound it (CI: "address already in use", every device test of the module lost).
HOST = f"127.3.{worker_index()}.1"


def _free_ports(count: int) -> list[int]:
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.bind((HOST, 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _device_spec(name: str, platform: str, port: int, root: Path, legacy: bool = False) -> dict:
    return {
        "name": name,
        "platform": platform,
        "listen": f"{HOST}:{port}",
        "state_dir": str(root / name),
        # No "password" in a hostname: netmiko's enable/login look for "ssword" in prompts.
        "hostname": name.replace("reject_new_password", "reject")[:20],
        "users": {
            "admin": {"password": OLD, "privilege": 15},
            "ops": {"password": OLD, "privilege": 1},
        },
        "enable_secret": ENABLE_OLD if platform in WITH_ENABLE else None,
        "legacy": legacy,
    }


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict]]:
    root = tmp_path_factory.mktemp("sims")
    ports = _free_ports(len(DEVICES))
    specs = {
        name: _device_spec(name, platform, port, root, legacy=name == "legacy")
        for (name, platform), port in zip(DEVICES.items(), ports, strict=True)
    }
    # One pre-made host key for all (a device reuses the key it finds) saves ~0.1 s of
    # RSA generation per device; first-start generation is covered by the restart test.
    key = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    for spec in specs.values():
        Path(spec["state_dir"]).mkdir()
        key.write_private_key(Path(spec["state_dir"]) / "ssh_host_key")
    proc = launch({"devices": list(specs.values())}, root / "spec.json")
    try:
        yield specs
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def connect(
    spec: dict, password: str = OLD, secret: str = ENABLE_OLD, username: str = "admin"
) -> ConnectHandler:
    host, port = spec["listen"].split(":")
    return ConnectHandler(
        device_type=spec["platform"],
        host=host,
        port=int(port),
        username=username,
        password=password,
        secret=secret,
        conn_timeout=10,
        auth_timeout=10,
    )


def login_works(spec: dict, password: str, secret: str = ENABLE_OLD) -> bool:
    # netmiko's ASA driver enables at login, so it needs the current enable secret too.
    try:
        connect(spec, password, secret=secret).disconnect()
    except NetmikoAuthenticationException:
        return False
    return True


def change_password(conn: ConnectHandler, platform: str, new: str, old: str) -> str:
    """What a driver sends to change admin's password (not yet saved where that differs)."""
    if platform in CISCO_FAMILY:
        command = {
            "cisco_asa": f"username admin password {new} privilege 15",
            "cisco_nxos": f"username admin password {new} role network-admin",
        }.get(platform, f"username admin privilege 15 secret {new}")
        conn.enable()
        return conn.send_config_set([command])
    if platform == "juniper_junos":
        conn.config_mode()
        out = conn.send_command(
            "set system login user admin authentication plain-text-password",
            expect_string="New password:",
        )
        out += conn.send_command(new, expect_string="Retype new password:", cmd_verify=False)
        return out + conn.send_command(new, expect_string=r"#\s*$", cmd_verify=False)
    if platform == "fortinet":
        out = conn.send_command("config system admin", expect_string=PROMPT)
        out += conn.send_command("edit admin", expect_string=PROMPT)
        return out + conn.send_command(f"set password {new} {old}", expect_string=PROMPT)
    return conn.send_command(f"/user set [find name=admin] password={new}")


def save(conn: ConnectHandler, platform: str) -> str:
    if platform in CISCO_FAMILY:
        return conn.save_config()
    if platform == "juniper_junos":
        out = conn.commit()
        return out + conn.exit_config_mode()
    if platform == "fortinet":
        return conn.send_command("end", expect_string=PROMPT)
    return ""  # RouterOS saves every change as it is made


SAVE_OK = {
    "cisco_ios": "[OK]",
    "cisco_asa": "[OK]",
    "cisco_nxos": "Copy complete.",
    "arista_eos": "Copy completed successfully.",
    "juniper_junos": "commit complete",
    "fortinet": "",
    "mikrotik_routeros": "",
}


INVALID = {
    "cisco_ios": "% Invalid input detected at '^' marker.",
    "cisco_asa": "ERROR: % Invalid input detected at '^' marker.",
    "cisco_nxos": "% Invalid command at '^' marker.",
    "arista_eos": "% Invalid input",
    "juniper_junos": "unknown command.",
    "fortinet": "Unknown action 0",
    "mikrotik_routeros": "bad command name frobnicate",
}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_rotate_save_verify_and_reboot(lab: dict, platform: str) -> None:
    spec = lab[f"rot-{platform}"]
    with connect(spec) as conn:
        assert INVALID[platform] in conn.send_command("frobnicate now")
        out = change_password(conn, platform, NEW, OLD)
        assert "rror" not in out and "fail" not in out.lower()
        if platform in WITH_ENABLE:
            conn.send_config_set(
                [f"enable {'password' if platform == 'cisco_asa' else 'secret'} {ENABLE_NEW}"]
            )
        assert SAVE_OK[platform] in save(conn, platform)
        if platform in CISCO_FAMILY:
            users = conn.send_command("show running-config | include username")
            assert users.splitlines()[0].startswith("username admin")
            assert all(line.startswith("username") for line in users.splitlines())
    assert verify_saved_password(spec["state_dir"], "admin", NEW)
    assert not login_works(spec, OLD, ENABLE_NEW)
    with connect(spec, NEW, secret=ENABLE_NEW) as conn:
        conn.enable()
        assert conn.check_enable_mode()
    reboot(spec["state_dir"])
    assert login_works(spec, NEW, ENABLE_NEW)
    assert not login_works(spec, OLD, ENABLE_NEW)


def test_asa_login_command_without_enable_secret(lab: dict) -> None:
    # Without a secret netmiko's ASA driver reaches `#` through the `login` command.
    with connect(lab["unsaved-cisco_asa"], secret="") as conn:
        assert conn.find_prompt().endswith("#")


@pytest.mark.parametrize("platform", sorted(WITH_ENABLE))
def test_wrong_enable_secret_reprompts(lab: dict, platform: str) -> None:
    spec = lab[f"unsaved-{platform}"]
    with connect(spec, username="ops") as conn:
        conn.exit_enable_mode()  # netmiko's ASA driver enables at login
        assert conn.find_prompt().endswith(">")
        conn.send_command("enable", expect_string="Password:")
        # A wrong secret is asked for again (netmiko would sit in a ReadTimeout here).
        conn.send_command("not-the-secret", expect_string="Password:", cmd_verify=False)
        conn.write_channel("\n\n")  # two more wrong (empty) attempts end the dialog
        out = conn.read_until_pattern(r">\s*$")
        assert "Bad secrets" in out or "denied" in out


@pytest.mark.parametrize("platform", [p for p in PLATFORMS if p != "mikrotik_routeros"])
def test_unsaved_change_is_lost_on_reboot(lab: dict, platform: str) -> None:
    spec = lab[f"unsaved-{platform}"]
    conn = connect(spec)
    change_password(conn, platform, NEW, OLD)
    if platform in CISCO_FAMILY:
        # The running config already has it: a fresh login takes the new password.
        assert login_works(spec, NEW)
    # Hang up without netmiko's cleanup: on FortiOS that cleanup ends with `end`,
    # which would apply (and save) the open edit.
    conn.paramiko_cleanup()
    # Junos: uncommitted candidate; FortiOS: edit left without next/end.
    assert verify_saved_password(spec["state_dir"], "admin", OLD)
    reboot(spec["state_dir"])
    assert login_works(spec, OLD)
    assert not login_works(spec, NEW)


def test_routeros_saves_with_the_change(lab: dict) -> None:
    spec = lab["unsaved-mikrotik_routeros"]
    with connect(spec) as conn:
        assert conn.base_prompt == f"[admin@{spec['hostname']}]"
        out = conn.send_command(
            f"/password old-password={OLD} new-password={NEW} confirm-new-password={NEW}"
        )
        assert "failure" not in out
    assert verify_saved_password(spec["state_dir"], "admin", NEW)
    reboot(spec["state_dir"])
    assert login_works(spec, NEW)


def test_fortinet_own_password_needs_the_old_one(lab: dict) -> None:
    spec = lab["unsaved-fortinet"]
    with connect(spec) as conn:
        conn.send_command("config system admin", expect_string=PROMPT)
        conn.send_command("edit admin", expect_string=PROMPT)
        out = conn.send_command(f"set password {NEW}", expect_string=PROMPT)
        assert "old password is required" in out and "Command fail. Return code" in out
        conn.send_command("abort", expect_string=PROMPT)
        assert conn.send_command("bogus", expect_string=PROMPT).strip() == "Unknown action 0"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_fault_reject_new_password(lab: dict, platform: str) -> None:
    spec = lab[f"reject_new_password-{platform}"]
    set_faults(spec["state_dir"], reject_new_password=True)
    with connect(spec) as conn:
        out = change_password(conn, platform, NEW, OLD)
        if platform == "juniper_junos":
            conn.exit_config_mode()
        else:
            save(conn, platform)
    assert any(word in out.lower() for word in ("password", "error", "fail"))
    assert login_works(spec, OLD)
    assert not login_works(spec, NEW)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_fault_drop_after_change(lab: dict, platform: str) -> None:
    spec = lab[f"drop_after_change-{platform}"]
    set_faults(spec["state_dir"], drop_after_change=True)
    conn = connect(spec)
    try:
        # The change takes effect at the command (Cisco, RouterOS), commit (Junos) or
        # end (FortiOS); right then the device hangs up.
        if platform in CISCO_FAMILY:
            conn.enable()
            conn.config_mode()
            conn.send_command_timing(change_password_line(platform), last_read=0.2)
        elif platform == "juniper_junos":
            change_password(conn, platform, NEW, OLD)
            conn.send_command_timing("commit", last_read=0.2)
        elif platform == "fortinet":
            change_password(conn, platform, NEW, OLD)
            conn.send_command_timing("end", last_read=0.2)
        else:
            conn.send_command_timing(f"/user set admin password={NEW}", last_read=0.2)
        assert not conn.is_alive()
    finally:
        conn.paramiko_cleanup()
    assert login_works(spec, NEW)
    assert not login_works(spec, OLD)


def change_password_line(platform: str) -> str:
    return {
        "cisco_asa": f"username admin password {NEW} privilege 15",
        "cisco_nxos": f"username admin password {NEW} role network-admin",
    }.get(platform, f"username admin privilege 15 secret {NEW}")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_fault_fail_save(lab: dict, platform: str) -> None:
    spec = lab[f"fail_save-{platform}"]
    set_faults(spec["state_dir"], fail_save=True)
    with connect(spec) as conn:
        out = change_password(conn, platform, NEW, OLD)
        if platform == "juniper_junos":
            with pytest.raises(ValueError, match="commit failed"):
                conn.commit()
            conn.send_command("rollback 0", expect_string=r"#\s*$")
        else:
            out += save(conn, platform)
            assert SAVE_OK[platform] not in out or not SAVE_OK[platform]
            assert any(w in out.lower() for w in ("error", "fail", "abort"))
    assert verify_saved_password(spec["state_dir"], "admin", OLD)
    clear_faults(spec["state_dir"])
    reboot(spec["state_dir"])
    assert login_works(spec, OLD)
    assert not login_works(spec, NEW)


def test_fault_refuse_login_and_clear(lab: dict) -> None:
    spec = lab["login"]
    set_faults(spec["state_dir"], refuse_login=True)
    assert not login_works(spec, OLD)
    clear_faults(spec["state_dir"])
    assert login_works(spec, OLD)


def test_fault_slow_seconds(lab: dict) -> None:
    spec = lab["slow"]

    def timed_command() -> float:
        start = time.monotonic()
        conn.write_channel("show version\n")
        assert "Cisco IOS Software" in conn.read_until_pattern(r"slow#")
        return time.monotonic() - start

    with connect(spec) as conn:
        fast = timed_command()
        set_faults(spec["state_dir"], slow_seconds=0.6)
        slow = timed_command()
        clear_faults(spec["state_dir"])
    assert slow >= 0.6 > fast


def test_set_faults_rejects_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        set_faults(tmp_path, drop_everything=True)


def _server_kexinit(spec: dict) -> tuple[list[str], list[str]]:
    """The key exchange and host key algorithms the server offers in its KEXINIT."""
    host, port = spec["listen"].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"SSH-2.0-probe\r\n")
        reader = sock.makefile("rb")
        while not reader.readline().startswith(b"SSH-"):
            pass
        length, _padding = struct.unpack(">IB", reader.read(5))
        payload = reader.read(length - 1)
    assert payload[0] == 20  # SSH_MSG_KEXINIT
    offset, lists = 17, []
    for _ in range(2):
        (size,) = struct.unpack(">I", payload[offset : offset + 4])
        lists.append(payload[offset + 4 : offset + 4 + size].decode().split(","))
        offset += 4 + size
    return lists[0], lists[1]


def test_legacy_device_offers_only_sha1(lab: dict, caplog: pytest.LogCaptureFixture) -> None:
    spec = lab["legacy"]
    kex, host_key_algs = _server_kexinit(spec)
    assert set(kex) - KEX_MARKERS <= SHA1_KEX and set(kex) & SHA1_KEX
    assert host_key_algs == ["ssh-rsa"]

    modern_kex, _ = _server_kexinit(lab["modern"])
    assert not set(modern_kex) & SHA1_KEX

    # paramiko 4 still speaks SHA-1: netmiko connects and negotiates a SHA-1 kex.
    caplog.set_level(logging.DEBUG, logger="paramiko.transport")
    with connect(spec) as conn:
        assert conn.find_prompt() == "legacy#"
        transport = conn.remote_conn.get_transport()
        assert transport.host_key_type == "ssh-rsa"
    negotiated = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Kex: ")]
    assert negotiated and negotiated[-1][len("Kex: ") :] in SHA1_KEX

    # A client without SHA-1 (paramiko 5's defaults) cannot agree on a key exchange.
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - lab device
    host, port = spec["listen"].split(":")
    with pytest.raises(paramiko.SSHException, match="Incompatible ssh peer"):
        client.connect(
            host,
            int(port),
            username="admin",
            password=OLD,
            look_for_keys=False,
            allow_agent=False,
            timeout=5,
            disabled_algorithms={"kex": sorted(SHA1_KEX)},
        )
    client.close()


def test_host_key_is_pinned_and_config_survives_restart(tmp_path: Path) -> None:
    (port,) = _free_ports(1)
    spec = _device_spec("restart", "cisco_ios", port, tmp_path)
    state_dir = spec["state_dir"]

    def served_fingerprint() -> str:
        transport = paramiko.Transport((HOST, port))
        try:
            transport.start_client(timeout=5)
            key = transport.get_remote_server_key().asbytes()
        finally:
            transport.close()
        return "SHA256:" + base64.b64encode(hashlib.sha256(key).digest()).decode().rstrip("=")

    proc = launch({"devices": [spec]}, tmp_path / "spec.json")
    try:
        first = host_key_fingerprint(state_dir)
        assert served_fingerprint() == first
        with connect(spec) as conn:
            change_password(conn, "cisco_ios", NEW, OLD)
            save(conn, "cisco_ios")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # A restart is a reboot: same host key, and the saved config beats the spec.
    proc = launch({"devices": [spec]}, tmp_path / "spec.json")
    try:
        assert host_key_fingerprint(state_dir) == first == served_fingerprint()
        assert login_works(spec, NEW)
        assert not login_works(spec, OLD)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_exec_request_runs_one_command(lab: dict) -> None:
    host, port = lab["modern"]["listen"].split(":")
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - lab device
    client.connect(
        host,
        int(port),
        username="admin",
        password=OLD,
        look_for_keys=False,
        allow_agent=False,
        timeout=5,
    )
    try:
        _stdin, stdout, _stderr = client.exec_command("show version", timeout=5)
        assert "Cisco IOS Software" in stdout.read().decode()
    finally:
        client.close()


def test_junos_encrypted_password_and_commit_and_quit(lab: dict) -> None:
    spec = lab["unsaved-juniper_junos"]
    new_hash = hash_password(NEW)
    with connect(spec) as conn:
        conn.config_mode()
        out = conn.send_command(
            f'set system login user admin authentication encrypted-password "{new_hash}"',
            expect_string=r"#\s*$",
        )
        assert "error" not in out
        assert "encrypted-password" in conn.send_command("show | compare", expect_string=r"#\s*$")
        assert "commit complete" in conn.commit(and_quit=True)
        assert conn.find_prompt().endswith(">")
        shown = conn.send_command("show configuration system login | display set")
        assert (
            f'set system login user admin authentication encrypted-password "{new_hash}"' in shown
        )
    assert login_works(spec, NEW)
    assert verify_saved_password(spec["state_dir"], "admin", NEW)
