"""SSH host key pins for one client: an OpenSSH known_hosts file next to the store.

First contact pins the key the device presents (and says so); from then on every
connection - netmiko's and the engine's own probes - runs with paramiko's RejectPolicy
against this file, so a changed key refuses the device before any password is sent.

Connections get only their own host's pinned key (``pin_client``), from a parse of the file
cached until the file changes: paramiko's ``load_host_keys`` is quadratic in the number of
lines, and a 50-device rotation made four such loads per device (~40% of keyturn's CPU).
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from agent.core.errors import OperationFailed


class HostKeyChanged(OperationFailed):
    """The device presented a different key from the one pinned for it."""


class HostKeyPins:
    """Pinned host keys in ``path`` (OpenSSH known_hosts format, mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def name(self, host: str, port: int) -> str:
        return known_hosts_name(host, port)

    def pinned(self, host: str, port: int):
        """The pinned paramiko key for host:port, or None."""
        keys = pinned_keys(self.path, host, port)
        return next(iter(keys.values()), None)

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
        from agent.core import files

        line = f"{self.name(host, port)} {key.get_name()} {key.get_base64()}\n"
        with files.open_private(self.path, "a", encoding="ascii") as handle:  # 0600, no symlink
            handle.write(line)


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def pin_client(client, known_hosts: Path, host: str, port: int) -> None:
    """Give a paramiko SSHClient the keys pinned for host:port (none: RejectPolicy refuses)."""
    name = known_hosts_name(host, port)
    for key in pinned_keys(known_hosts, host, port).values():
        client.get_host_keys().add(name, key.get_name(), key)


def pinned_keys(known_hosts: Path, host: str, port: int) -> dict:
    """key type -> paramiko key pinned for host:port in ``known_hosts`` (first one wins,
    as in paramiko's own lookup); hashed host names are matched too."""
    import paramiko

    name = known_hosts_name(host, port)
    plain, hashed = _parsed(Path(known_hosts))
    found = dict(plain.get(name, {}))
    for entry in hashed:
        if entry.key.get_name() in found:
            continue
        for pattern in entry.hostnames:
            if paramiko.HostKeys.hash_host(name, pattern) == pattern:
                found[entry.key.get_name()] = entry.key
                break
    return found


_cache: dict[Path, tuple[tuple, dict, list]] = {}
_cache_lock = threading.Lock()


def _parsed(path: Path) -> tuple[dict, list]:
    """(host name -> {key type: key}, hashed entries) of ``path``, parsed once per version
    of the file (its inode, size and times)."""
    from paramiko.hostkeys import HostKeyEntry
    from paramiko.ssh_exception import SSHException

    try:
        info = path.stat()
    except FileNotFoundError:
        return {}, []
    stamp = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    with _cache_lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2]
        plain: dict[str, dict] = {}
        hashed: list = []
        for number, raw in enumerate(
            path.read_text(encoding="ascii", errors="replace").splitlines(), 1
        ):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                entry = HostKeyEntry.from_line(line, number)
            except SSHException:
                continue
            if entry is None or entry.key is None:
                continue
            if any(h.startswith("|1|") for h in entry.hostnames):
                hashed.append(entry)
                continue
            for hostname in entry.hostnames:
                plain.setdefault(hostname, {}).setdefault(entry.key.get_name(), entry.key)
        _cache[path] = (stamp, plain, hashed)
        return plain, hashed


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
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see connect_socket
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
