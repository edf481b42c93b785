"""The linux driver against a real OpenSSH sshd with PAM and a real local account.

sshd runs on a loopback address (random port) with its own config and host key, in a private mount
namespace whose /run is a tmpfs (sshd needs /run/sshd; the host's /run is left alone). The
test account is created with useradd and removed with userdel; processes end by PID.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from pathlib import Path

import paramiko
import pytest

from agent.core.secret import Secret
from tests.rotation_helpers import Harness, free_port
from tests.xdist_worker import worker_index

# A loopback address of this worker's own: a port found free on 127.0.0.1 can be taken by
# another worker's connection before sshd binds it.
HOST = f"127.6.{worker_index()}.1"

OLD = "Linux-Planted-9137"


def _login(port: int, user: str, password: str) -> bool:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 (test peer)
    try:
        client.connect(
            HOST, port, user, password, allow_agent=False, look_for_keys=False, timeout=10
        )
    except paramiko.AuthenticationException:
        return False
    finally:
        client.close()
    return True


@pytest.fixture
def sshd_account(tmp_path: Path):
    user = f"ktrot{secrets.token_hex(3)}"
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", user], check=True)
    proc = None
    try:
        subprocess.run(["chpasswd"], input=f"{user}:{OLD}\n", text=True, check=True)
        key = tmp_path / "ssh_host_ed25519_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        port = free_port(HOST)
        config = tmp_path / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress {HOST}\nHostKey {key}\nUsePAM yes\n"
            "PasswordAuthentication yes\nKbdInteractiveAuthentication no\n"
            f"PermitRootLogin no\nAllowUsers {user}\nPidFile none\nStrictModes no\n"
        )
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        proc = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                f"mount -t tmpfs tmpfs /run && mkdir -m 0755 /run/sshd && "
                f"exec {sshd} -D -e -f {config}",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                paramiko.Transport((HOST, port)).close()
                break
            except Exception:
                if proc.poll() is not None:
                    pytest.fail(f"sshd exited: {proc.stderr.read()}")
                time.sleep(0.1)
        yield user, port
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        subprocess.run(["userdel", "-r", user], check=False, capture_output=True)


def test_linux_account_rotates_against_real_sshd(sshd_account, keyring_env, tmp_path):
    from rotation.drivers.base import Target

    user, port = sshd_account
    h = Harness(tmp_path)
    h.secrets.put(HOST, user, Secret(OLD), "current", platform="linux")
    shadow_before = _shadow_hash(user)

    [result] = h.rotate(Target(HOST, "linux", user, port=port))

    assert result.status == "rotated", result.error
    assert result.verified and result.saved and result.old_password_refused
    new = h.secrets.get(HOST, user).reveal()
    assert new != OLD
    assert _login(port, user, new) and not _login(port, user, OLD)
    assert _shadow_hash(user) != shadow_before


def _shadow_hash(user: str) -> str:
    for line in Path("/etc/shadow").read_text().splitlines():
        name, hashed, *_ = line.split(":")
        if name == user:
            return hashed
    raise AssertionError(f"{user} not in /etc/shadow")
