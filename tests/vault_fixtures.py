"""A real OpenBao dev server on loopback for the vault tests (started here, stopped here).

`bao server -dev` keeps everything in memory, listens on loopback only, mounts KV v2 at
``secret/`` and prints its unseal key: enough to test sealing, tokens with narrow policies
and AppRole logins against the real server. The server's HOME is a private folder, so its
token helper never writes ~/.vault-token of whoever runs the tests.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import VENV_BIN
from tests.rotation_helpers import free_port
from tests.xdist_worker import worker_index

BAO = str(VENV_BIN / "bao")

# The rights keyturn needs on its client paths (docs/operations.md quotes this policy).
KEYTURN_POLICY = """
path "secret/data/keyturn/*"     { capabilities = ["create", "read", "update"] }
path "secret/metadata/keyturn/*" { capabilities = ["read", "list"] }
"""
READ_ONLY_POLICY = """
path "secret/data/keyturn/*"     { capabilities = ["read"] }
path "secret/metadata/keyturn/*" { capabilities = ["read", "list"] }
"""


class BaoServer:
    def __init__(self, root: Path) -> None:
        self.root_token = secrets.token_hex(16)
        # A loopback address of this worker's own: a port found free on 127.0.0.1 can be
        # taken by another worker's connection before the server binds it.
        host = f"127.4.{worker_index()}.1"
        port = free_port(host)
        self.address = f"http://{host}:{port}"
        (root / "home").mkdir(mode=0o700)
        self.log = root / "bao.log"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root / "home")}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    BAO,
                    "server",
                    "-dev",
                    f"-dev-root-token-id={self.root_token}",
                    f"-dev-listen-address={host}:{port}",
                    "-dev-no-store-token",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.client = self._wait_ready()
        self.unseal_key = self._printed("Unseal Key")
        self.client.sys.create_or_update_policy("keyturn", KEYTURN_POLICY)
        self.client.sys.create_or_update_policy("keyturn-read-only", READ_ONLY_POLICY)

    def _wait_ready(self):
        import hvac

        client = hvac.Client(url=self.address, token=self.root_token)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bao exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                if not client.sys.read_seal_status()["sealed"] and client.is_authenticated():
                    return client
            except Exception:  # not listening yet
                time.sleep(0.1)
        raise RuntimeError("bao server -dev did not come up in 30 s")

    def _printed(self, label: str) -> str:
        """A value the dev server prints once it is up (a moment after it answers)."""
        for _attempt in range(100):
            match = re.search(rf"{label}: (\S+)", self.log.read_text(errors="replace"))
            if match:
                return match.group(1)
            time.sleep(0.1)
        raise RuntimeError(f"bao server -dev printed no {label}")

    def token(self, policy: str = "keyturn") -> str:
        """A fresh token that has only ``policy`` (never the root token in keyturn's hands)."""
        return self.client.auth.token.create(policies=[policy], ttl="1h")["auth"]["client_token"]

    def seal(self) -> None:
        self.client.sys.seal()

    def unseal(self) -> None:
        self.client.sys.submit_unseal_key(self.unseal_key)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoServer]:
    server = BaoServer(tmp_path_factory.mktemp("bao"))
    yield server
    server.stop()


def vault_settings(bao: BaoServer, **overrides):
    from agent.core.vault_store import VaultSettings

    return VaultSettings(**{"address": bao.address, **overrides})


def vault_store(bao: BaoServer, client: str | None = None, policy: str = "keyturn"):
    """A VaultSecretStore for a client nobody else uses, logged in with a policy token."""
    from agent.core.vault_store import VaultSecretStore

    name = client or f"t-{uuid.uuid4().hex[:12]}"
    return VaultSecretStore(name, vault_settings(bao), environ={"VAULT_TOKEN": bao.token(policy)})
