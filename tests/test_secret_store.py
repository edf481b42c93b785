import json
import os
import subprocess

import pytest

from agent.core.secret import Secret
from agent.core.secret_store import INDEX_ENTRY, SecretStore, SecretStoreError
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
        "from agent.core.secret_store import SecretStore, SecretStoreError\n"
        "try:\n    SecretStore('acme')\nexcept SecretStoreError as e:\n    print('refused:', e)\n"
    )
    out = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True).stdout
    assert out.startswith("refused: no usable keyring backend")


def test_escrow_is_durable_at_once_while_the_index_waits_for_the_run(keyring_env):
    store = SecretStore("acme")
    store.put("198.18.0.2", "admin", Secret("old-Pass-1"), platform="cisco_ios")
    with store.deferred_index():
        store.put("198.18.0.2", "admin", Secret("new-Pass-2"), "pending")
        # Another process sees the escrowed value in the keyring before any device is
        # touched; its listing catches up when the run ends.
        other = SecretStore("acme")
        assert other.get("198.18.0.2", "admin", "pending").reveal() == "new-Pass-2"
        assert list(other.with_pending()) == []
    assert [e.host for e in SecretStore("acme").with_pending()] == ["198.18.0.2"]


def test_entries_of_the_per_version_layout_are_read_and_moved(keyring_env):
    store = SecretStore("acme")
    backend, service = store.backend, store.service
    for version, value in (("current", "Legacy-Cur-1"), ("pending", "Legacy-Pend-2")):
        backend.set_password(service, f"198.18.0.3|admin|{version}", value)
    index = {
        "198.18.0.3|admin": {
            "host": "198.18.0.3",
            "user": "admin",
            "platform": "cisco_ios",
            "versions": {"current": "t", "pending": "t"},
        }
    }
    backend.set_password(service, INDEX_ENTRY, json.dumps(index))
    store = SecretStore("acme")
    assert store.get("198.18.0.3", "admin", "pending").reveal() == "Legacy-Pend-2"
    store.promote("198.18.0.3", "admin")
    fresh = SecretStore("acme")
    assert fresh.get("198.18.0.3", "admin").reveal() == "Legacy-Pend-2"
    assert fresh.get("198.18.0.3", "admin", "previous").reveal() == "Legacy-Cur-1"
    assert fresh.get("198.18.0.3", "admin", "pending") is None
    for version in ("current", "pending", "previous"):
        assert backend.get_password(service, f"198.18.0.3|admin|{version}") is None


def test_concurrent_escrows_share_file_rewrites_and_all_land(keyring_env, monkeypatch):
    """Threads escrowing at once are group-committed (fewer keyring rewrites than writes),
    and every value is in the file, readable by another process's store, when put returns."""
    import threading

    from agent.core import keyring_batch

    store = SecretStore("acme")
    for i in range(20):
        store.put(f"198.18.1.{i}", "admin", Secret(f"Old-Pass-{i:02d}x"))
    writes = []
    real = keyring_batch.write_entries
    monkeypatch.setattr(
        keyring_batch,
        "write_entries",
        lambda backend, service, entries: (
            writes.append(len(entries)),
            real(backend, service, entries),
        ),
    )
    start = threading.Barrier(20)
    landed: dict[int, str | None] = {}

    def escrow(i: int) -> None:
        start.wait()
        store.put(f"198.18.1.{i}", "admin", Secret(f"New-Pass-{i:02d}x"), "pending")
        landed[i] = SecretStore("acme").get(f"198.18.1.{i}", "admin", "pending").reveal()

    threads = [threading.Thread(target=escrow, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert landed == {i: f"New-Pass-{i:02d}x" for i in range(20)}
    assert sum(writes) == 20 and len(writes) < 20
    store.promote("198.18.1.3", "admin")
    fresh = SecretStore("acme")
    assert fresh.get("198.18.1.3", "admin").reveal() == "New-Pass-03x"
    assert fresh.get("198.18.1.3", "admin", "previous").reveal() == "Old-Pass-03x"
    assert fresh.get("198.18.1.4", "admin").reveal() == "Old-Pass-04x"
    with pytest.raises(SecretStoreError, match="no pending"):
        fresh.promote("198.18.1.3", "admin")


def test_a_batch_never_drops_what_another_writer_put_in_the_file(keyring_env):
    """The batch writer reuses its last parse of the keyring file only while the file is the
    one it wrote: an entry another writer added meanwhile survives the next batch, and the
    file stays private."""
    import stat

    store = SecretStore("acme")
    store.put("198.18.2.1", "admin", Secret("First-Pass-01"))
    store.put("198.18.2.1", "admin", Secret("Second-Pass-2"), "pending")
    store.backend.set_password(store.service, "written-elsewhere", "Other-Value-3")
    store.put("198.18.2.2", "admin", Secret("Third-Pass-03"))
    fresh = SecretStore("acme")
    assert fresh.backend.get_password(store.service, "written-elsewhere") == "Other-Value-3"
    assert fresh.get("198.18.2.1", "admin", "pending").reveal() == "Second-Pass-2"
    assert fresh.get("198.18.2.2", "admin").reveal() == "Third-Pass-03"
    mode = os.stat(store.backend.file_path).st_mode
    assert stat.S_IMODE(mode) == 0o600
