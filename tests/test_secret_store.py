import os
import subprocess

import pytest

from agent.secret import Secret
from rotation.secret_store import SecretStore, SecretStoreError
from tests.conftest import PYTHON


def test_versions_and_promotion(keyring_env):
    store = SecretStore("acme")
    store.put("198.18.0.2", "admin", Secret("old-Pass-1"), platform="cisco_ios")
    store.put("198.18.0.2", "admin", Secret("new-Pass-2"), "pending")
    assert [e.host for e in store.with_pending()] == ["198.18.0.2"]
    store.promote("198.18.0.2", "admin")
    assert store.get("198.18.0.2", "admin").reveal() == "new-Pass-2"
    assert store.get("198.18.0.2", "admin", "previous").reveal() == "old-Pass-1"
    assert store.get("198.18.0.2", "admin", "pending") is None
    [entry] = store.entries()
    assert set(entry.versions) == {"current", "previous"}
    assert entry.platform == "cisco_ios"


def test_clients_are_separate_services(keyring_env):
    SecretStore("acme").put("h", "u", Secret("acme-Secret-1"))
    assert SecretStore("globex").get("h", "u") is None


def test_values_are_encrypted_at_rest(keyring_env, tmp_path):
    SecretStore("acme").put("h", "u", Secret("Plainly-Visible-9"))
    files = list((tmp_path / "xdg-data").rglob("*"))
    assert files
    for path in files:
        if path.is_file():
            assert b"Plainly-Visible-9" not in path.read_bytes()


def test_audit_key_is_stable(keyring_env):
    assert SecretStore("acme").audit_key() == SecretStore("acme").audit_key()
    assert len(SecretStore("acme").audit_key()) == 32


def test_locked_cryptfile_without_password_is_a_clear_error(keyring_env, monkeypatch):
    monkeypatch.delenv("KEYRING_CRYPTFILE_PASSWORD")
    with pytest.raises(SecretStoreError, match="KEYRING_CRYPTFILE_PASSWORD"):
        SecretStore("acme", interactive=False)


def test_password_file_must_be_private(keyring_env, monkeypatch, tmp_path):
    monkeypatch.delenv("KEYRING_CRYPTFILE_PASSWORD")
    secret_file = tmp_path / "unlock"
    secret_file.write_text("test-keyring-unlock\n")
    secret_file.chmod(0o644)
    monkeypatch.setenv("KEYTURN_KEYRING_PASSWORD_FILE", str(secret_file))
    with pytest.raises(SecretStoreError, match="chmod 600"):
        SecretStore("acme")
    secret_file.chmod(0o600)
    SecretStore("acme").put("h", "u", Secret("from-File-Unlock"))


def test_plaintext_backend_is_refused(tmp_path):
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    code = (
        "from rotation.secret_store import SecretStore, SecretStoreError\n"
        "try:\n    SecretStore('acme')\nexcept SecretStoreError as e:\n    print('refused:', e)\n"
    )
    out = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True).stdout
    assert out.startswith("refused: no usable keyring backend")
