"""The vault backend against a real OpenBao dev server: how it opens (sealed, unreachable,
refused token, plain http, token file rights, AppRole), what it stores, and `secrets
migrate --to vault` moving a keyring client across with its audit key."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from agent.core.secret import Secret
from agent.core.secret_store import SecretStoreError
from agent.core.vault_store import VaultSecretStore, _escape, _unescape
from tests.conftest import KEYTURN
from tests.vault_fixtures import bao, vault_settings, vault_store

__all__ = ["bao"]


def open_with(bao, environ: dict[str, str], **settings) -> VaultSecretStore:
    return VaultSecretStore("acme", vault_settings(bao, **settings), environ=environ)


def test_versions_round_trip_and_list_without_values(bao):
    store = vault_store(bao)
    store.put("198.18.0.1", "admin", Secret("Old-1"), platform="cisco_ios")
    store.put("fe80::1", "DOM\\svc user", Secret("Other-2"))
    store.put("198.18.0.1", "admin", Secret("New-3"), "pending")
    store.promote("198.18.0.1", "admin")
    store.refresh()
    assert store.get("198.18.0.1", "admin") == Secret("New-3")
    assert store.get("198.18.0.1", "admin", "previous") == Secret("Old-1")
    assert store.get("198.18.0.1", "admin", "pending") is None
    entries = {(e.host, e.user): e for e in store.entries()}
    assert set(entries) == {("198.18.0.1", "admin"), ("fe80::1", "DOM\\svc user")}
    assert set(entries["198.18.0.1", "admin"].versions) == {"current", "previous"}
    assert entries["198.18.0.1", "admin"].platform == "cisco_ios"
    assert "New-3" not in repr(store.entries())
    store.drop("fe80::1", "DOM\\svc user", "current")
    assert [(e.host, e.user) for e in store.entries()] == [("198.18.0.1", "admin")]
    with pytest.raises(SecretStoreError, match="no pending"):
        store.promote("198.18.0.1", "admin")


def test_audit_key_is_created_once_and_shared(bao):
    first = vault_store(bao)
    second = vault_store(bao, client=first.path.rsplit("/", 1)[-1])
    key = first.audit_key()
    assert len(key) == 32 and second.audit_key() == key
    with pytest.raises(SecretStoreError, match="different audit key"):
        second.set_audit_key(b"\x00" * 32)


def test_names_are_escaped_into_one_path_segment():
    for name in ("admin", "DOM\\user", "a/b", "x@y", "ü~%", "fe80::1"):
        escaped = _escape(name)
        assert set(escaped) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_~"
        )
        assert _unescape(escaped) == name


def test_sealed_vault_is_one_line_and_unseals(bao):
    token = bao.token()
    bao.seal()
    try:
        with pytest.raises(SecretStoreError, match=r"is sealed .* no device was touched"):
            open_with(bao, {"VAULT_TOKEN": token})
    finally:
        bao.unseal()
    open_with(bao, {"VAULT_TOKEN": token})


def test_unreachable_refused_and_missing_credentials(bao):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(SecretStoreError, match="unreachable"):
        open_with(bao, {"VAULT_TOKEN": "x"}, address=f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(SecretStoreError, match="refused the token"):
        open_with(bao, {"VAULT_TOKEN": "s.not-a-token"})
    with pytest.raises(SecretStoreError, match="no vault credentials: set VAULT_TOKEN"):
        open_with(bao, {})


def test_plain_http_only_on_loopback(bao):
    with pytest.raises(SecretStoreError, match="plain http"):
        open_with(bao, {"VAULT_TOKEN": "x"}, address="http://198.18.0.50:8200")
    with pytest.raises(SecretStoreError, match="not an https"):
        open_with(bao, {"VAULT_TOKEN": "x"}, address="vault:8200")


def test_token_file_must_be_private(bao, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(bao.token() + "\n")
    token_file.chmod(0o644)
    with pytest.raises(SecretStoreError, match="chmod 600"):
        open_with(bao, {}, token_file=str(token_file))
    token_file.chmod(0o600)
    open_with(bao, {}, token_file=str(token_file)).audit_key()


def test_approle_login(bao):
    bao.client.sys.enable_auth_method("approle")
    bao.client.auth.approle.create_or_update_approle("keyturn", token_policies=["keyturn"])
    role_id = bao.client.auth.approle.read_role_id("keyturn")["data"]["role_id"]
    secret_id = bao.client.auth.approle.generate_secret_id("keyturn")["data"]["secret_id"]
    store = open_with(bao, {"VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id})
    store.put("198.18.0.2", "admin", Secret("Approle-1"))
    assert store.get("198.18.0.2", "admin") == Secret("Approle-1")
    with pytest.raises(SecretStoreError, match="vault login failed"):
        open_with(bao, {"VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": "wrong"})


def run(env: dict[str, str], config, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KEYTURN, "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_migrate_keyring_client_to_vault(bao, cli_env, tmp_path):
    config = tmp_path / "site.toml"
    client = f"m{os.getpid()}{tmp_path.name[-6:]}".replace("_", "")
    config.write_text(
        f'client = "{client}"\nscope = ["198.18.0.0/24"]\n[secrets]\naddress = "{bao.address}"\n'
    )
    csv = tmp_path / "creds.csv"
    csv.write_text(
        "host,username,password,enable_secret,platform\n"
        "198.18.0.1,admin,Keyring-Pass-1,Enable-Pass-2,cisco_ios\n"
        "198.18.0.2,root,Keyring-Pass-3,,linux\n"
    )
    env = {**cli_env, "VAULT_TOKEN": bao.token()}
    assert run(env, config, "secrets", "import", str(csv)).returncode == 0

    moved = run(env, config, "secrets", "migrate", "--to", "vault")
    assert moved.returncode == 0, moved.stderr
    assert "migrated 3 credential(s)" in moved.stdout and "each read back" in moved.stdout
    again = run(env, config, "secrets", "migrate", "--to", "vault")  # idempotent
    assert again.returncode == 0, again.stderr

    vault = {
        **env,
        "KEYTURN_SECRETS_BACKEND": "vault",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    got = run(vault, config, "secrets", "get", "198.18.0.1", "enable", "--reveal")
    assert got.returncode == 0 and got.stdout.strip() == "Enable-Pass-2"
    listed = run(vault, config, "secrets", "list")
    assert "root@198.18.0.2" in listed.stdout and "Keyring-Pass" not in listed.stdout
    # The audit chain began under the keyring's key and goes on under the same key.
    verified = run(vault, config, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_sealed_vault_stops_rotate_before_any_device(bao, cli_env, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.setblocking(False)
    config = tmp_path / "site.toml"
    config.write_text(
        'client = "sealed"\nscope = ["127.0.0.0/8"]\n'
        f'[secrets]\nbackend = "vault"\naddress = "{bao.address}"\n'
    )
    targets = tmp_path / "targets.toml"
    targets.write_text(
        f'[[device]]\nhost = "127.0.0.1"\nport = {listener.getsockname()[1]}\n'
        'platform = "cisco_ios"\nusername = "admin"\n'
    )
    env = {**cli_env, "VAULT_TOKEN": bao.token()}
    bao.seal()
    try:
        out = run(env, config, "rotate", "--targets", str(targets), "--yes")
    finally:
        bao.unseal()
    assert out.returncode == 3, out.stdout + out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "is sealed" in lines[0], out.stderr
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody connected
    listener.close()


def test_doctor_checks_the_vault(bao, cli_env, tmp_path):
    config = tmp_path / "site.toml"
    config.write_text(f'client = "doc"\n[secrets]\nbackend = "vault"\naddress = "{bao.address}"\n')
    out = run({**cli_env, "VAULT_TOKEN": bao.token()}, config, "doctor")
    assert "unsealed, token accepted" in out.stdout + out.stderr
    refused = run({**cli_env, "VAULT_TOKEN": "s.revoked"}, config, "doctor")
    assert "vault refused the token" in refused.stdout + refused.stderr
