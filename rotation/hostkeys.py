"""SSH host key pins for one client: an OpenSSH known_hosts file next to the store.

First contact pins the key the device presents (and says so); from then on every
connection - netmiko's and the engine's own probes - runs with paramiko's RejectPolicy
against this file, so a changed key refuses the device before any password is sent.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from agent.errors import OperationFailed


class HostKeyChanged(OperationFailed):
    """The device presented a different key from the one pinned for it."""


class HostKeyPins:
    """Pinned host keys in ``path`` (OpenSSH known_hosts format, mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def name(self, host: str, port: int) -> str:
        return host if port == 22 else f"[{host}]:{port}"

    def pinned(self, host: str, port: int):
        """The pinned paramiko key for host:port, or None."""
        import paramiko

        if not self.path.exists():
            return None
        keys = paramiko.HostKeys(str(self.path))
        entry = keys.lookup(self.name(host, port))
        if not entry:
            return None
        return next(iter(entry.values()))

    def check(self, host: str, port: int, timeout: float) -> tuple[str, bool]:
        """First contact: fetch the device's key without authenticating and pin it.

        Returns (SHA256 fingerprint, newly_pinned). A host already pinned is not probed:
        every SSH connection keyturn makes checks the pin before it authenticates, so a
        changed key is refused there (one handshake per device saved).
        """
        with self._lock:
            pinned = self.pinned(host, port)
        if pinned is not None:
            return fingerprint(pinned), False
        key = fetch_host_key(host, port, timeout)
        with self._lock:
            pinned = self.pinned(host, port)
            if pinned is None:
                self._append(host, port, key)
                return fingerprint(key), True
        if pinned.get_name() != key.get_name() or pinned.asbytes() != key.asbytes():
            raise HostKeyChanged(
                f"{host}:{port} presented host key {fingerprint(key)}, but "
                f"{fingerprint(pinned)} is pinned in {self.path}; refusing the device "
                "(remove the line from that file only if the change is expected)"
            )
        return fingerprint(key), False

    def _append(self, host: str, port: int, key) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = f"{self.name(host, port)} {key.get_name()} {key.get_base64()}\n"
        with self.path.open("a", encoding="ascii") as handle:
            handle.write(line)
        self.path.chmod(0o600)


def fingerprint(key) -> str:
    import base64
    import hashlib

    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def fetch_host_key(host: str, port: int, timeout: float):
    """Key exchange only (no authentication), so a pin can be checked before a password
    leaves this machine."""
    import paramiko

    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise OperationFailed(f"{host}:{port}: cannot connect: {exc.strerror or exc}") from None
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise OperationFailed(f"{host}:{port}: SSH handshake failed: {exc}") from None
    finally:
        transport.close()
