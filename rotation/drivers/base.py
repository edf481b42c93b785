"""The driver contract: one login session on one device, driven through lifecycle verbs.

The engine calls, in order: ``open`` (log in, privileged mode), ``account_exists``,
``change``, ``save``, and on trouble ``discard`` or ``revert``; it opens a *fresh* driver to
verify a new password. A platform is a small subclass of a family base (``cisco``,
``juniper_junos``, ...) that overrides only what differs: the netmiko device_type, the
change commands, the error markers and the save step. Drivers never print, log secrets or
write audit events; they raise the typed errors below and the engine decides.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from agent.core.errors import OperationFailed
from agent.core.secret import Secret, scrub
from rotation.hostkeys import pin_client
from rotation.policy import PasswordPolicy

# netmiko logs every byte it reads at DEBUG (a changed password included) and paramiko
# prints transport errors through the root logger: keep both out of every handler. keyturn
# reports what happened through its own results and logger.
for _name in ("netmiko", "paramiko"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)
    logging.getLogger(_name).propagate = False


# The account name that stands for a device's enable secret (Cisco family) in the store,
# targets and results: rotating it means `enable secret NEW` after logging in as `login`.
ENABLE_ACCOUNT = "enable"


class DriverError(OperationFailed):
    """A device step failed; the message is scrubbed of every known secret."""

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))


class LoginRefused(DriverError):
    """The device refused the credential (authentication failed)."""


class ConnectionLost(DriverError):
    """The session died or timed out: the outcome of the last command is unknown."""


class ChangeRejected(DriverError):
    """The device answered the change with an error: it says nothing was changed."""


class SaveFailed(DriverError):
    """The running change could not be made persistent."""


class PrivilegeFailed(DriverError):
    """Logged in, but could not reach the privilege needed to change passwords."""


class AccountMissing(DriverError):
    """The account to rotate does not exist on the device."""


class HostKeyRejected(DriverError):
    """The device presented a key other than the pinned one; nothing was sent."""


@dataclass(frozen=True)
class Target:
    """One account on one device. ``login`` is the account keyturn signs in as (default:
    the rotated account itself); ``enable_account`` names the stored credential holding the
    enable secret, where the platform has one."""

    host: str
    platform: str
    username: str
    port: int = 22
    login: str | None = None
    enable_account: str | None = None
    device_class: str | None = None

    @property
    def login_user(self) -> str:
        return self.login or self.username

    @property
    def label(self) -> str:
        return f"{self.username}@{self.host}"


class Driver:
    """A netmiko session with the lifecycle verbs; subclasses set the class attributes."""

    platform: ClassVar[str] = ""
    device_type: ClassVar[str] = ""
    policy: ClassVar[PasswordPolicy] = PasswordPolicy()
    # Regex (multiline) that marks an error in any device output.
    error_pattern: ClassVar[str] = r"(?i)^\s*%\s*(error|invalid|incomplete)"
    # False where the change is persistent by itself (commit, FortiOS `end`, RouterOS).
    needs_save: ClassVar[bool] = True
    # Whether a privileged mode exists that the login must reach (Cisco `enable`).
    has_enable: ClassVar[bool] = False
    # The CLI prompt after login, for the light verification login ("" = use netmiko).
    prompt_pattern: ClassVar[str] = ""

    def __init__(self, target: Target, *, known_hosts: Path, timeout: float = 30.0) -> None:
        self.target = target
        self.known_hosts = Path(known_hosts)
        self.timeout = timeout
        self.conn: Any = None

    # -- session -------------------------------------------------------------------------
    def open(self, password: Secret, enable: Secret | None = None) -> None:
        """Log in as the target's login account and reach privileged mode."""
        import paramiko
        from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException

        params = {
            "device_type": self.device_type,
            "host": self.target.host,
            "port": self.target.port,
            "username": self.target.login_user,
            "password": password.reveal(),
            "secret": enable.reveal() if enable is not None else "",
            "conn_timeout": self.timeout,
            "auth_timeout": self.timeout,
            "banner_timeout": self.timeout,
            "read_timeout_override": self.timeout,
            "fast_cli": True,
            "allow_agent": False,
            "use_keys": False,
            # Pinned keys only: paramiko's RejectPolicy checks them before authenticating
            # (the connection class loads this host's pin from alt_key_file).
            "ssh_strict": True,
            "system_host_keys": False,
            "alt_host_keys": False,
            "alt_key_file": str(self.known_hosts),
            # Never a session_log: IOS echoes `username ... secret NEW` into it.
            "session_log": None,
        }
        sock = None
        try:
            sock = connect_socket(self.target.host, self.target.port, self.timeout)
            self.conn = _pinned_connection_class(self.device_type)(**params, sock=sock)
        except NetmikoAuthenticationException:
            raise LoginRefused(f"{self.target.host}: login refused for {self._who}") from None
        except (paramiko.BadHostKeyException, NetmikoTimeoutException) as exc:
            # netmiko wraps paramiko's exception; the original is its context.
            cause = exc if isinstance(exc, paramiko.BadHostKeyException) else exc.__context__
            if not isinstance(cause, paramiko.BadHostKeyException):
                raise ConnectionLost(
                    f"{self.target.host}: cannot log in: {_first_line(cause or exc)}"
                ) from None
            raise HostKeyRejected(
                f"{self.target.host}:{self.target.port}: the host key differs from the one "
                f"pinned in {self.known_hosts}; refusing the device"
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise ConnectionLost(f"{self.target.host}: cannot log in: {_first_line(exc)}") from None
        finally:
            if self.conn is None and sock is not None:
                sock.close()
        _fail_fast_on_close(self.conn)
        with self.guard("privileged mode"):
            self.enter_privileged()

    def close(self) -> None:
        if self.conn is None:
            return
        # A dead session has nothing left to close.
        with contextlib.suppress(Exception):
            self.conn.disconnect()
        self.conn = None

    @property
    def alive(self) -> bool:
        try:
            return self.conn is not None and self.conn.is_alive()
        except Exception:
            return False

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Turn netmiko/paramiko failures during ``what`` into ConnectionLost/ChangeRejected."""
        from netmiko.exceptions import ConfigInvalidException, ReadException, ReadTimeout

        try:
            yield
        except DriverError:
            raise
        except ConfigInvalidException as exc:
            raise ChangeRejected(f"{what}: device reported an error: {_marker(exc)}") from None
        except (ReadTimeout, ReadException, OSError, EOFError, ValueError) as exc:
            raise ConnectionLost(f"{what}: session lost: {_first_line(exc)}") from None
        except Exception as exc:
            import paramiko

            if isinstance(exc, paramiko.SSHException):
                raise ConnectionLost(f"{what}: session lost: {_first_line(exc)}") from None
            raise

    def check_output(self, output: str, what: str, error: type[DriverError]) -> str:
        match = re.search(self.error_pattern, output, flags=re.M)
        if match:
            raise error(f"{what}: device said: {_first_line(match.group(0))}")
        return output

    def check_login(self, password: Secret, enable: Secret | None = None) -> None:
        """A fresh login that proves ``password`` (and privileged mode), then logs out.

        Where ``prompt_pattern`` is set this is a bare paramiko shell that waits for the
        prompt (and answers `enable`), ~0.1 s instead of netmiko's ~0.3 s session setup;
        otherwise a full netmiko login.
        """
        if not self.prompt_pattern:
            self.open(password, enable)
            self.close()
            return
        import paramiko

        client = paramiko.SSHClient()
        pin_client(client, self.known_hosts, self.target.host, self.target.port)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            sock = connect_socket(self.target.host, self.target.port, self.timeout)
            client.connect(self.target.host, self.target.port, self.target.login_user,
                           password.reveal(), sock=sock, timeout=self.timeout,
                           auth_timeout=self.timeout, banner_timeout=self.timeout,
                           allow_agent=False, look_for_keys=False)
            channel = client.invoke_shell(width=511, height=1000)
            channel.settimeout(self.timeout)
            prompt = _read_until(channel, self.prompt_pattern, self.timeout)
            if self.has_enable and self.target.username == ENABLE_ACCOUNT and \
                    prompt.rstrip().endswith("#"):
                # The enable secret is what is being proven: leave the privileged level
                # a privilege-15 login lands in, then ask for it again.
                channel.sendall(b"disable\n")
                prompt = _read_until(channel, r">\s*$", self.timeout)
            if self.has_enable and not prompt.rstrip().endswith("#"):
                channel.sendall(b"enable\n")
                answer = _read_until(channel, r"(?i)password:\s*$|#\s*$", self.timeout)
                if not answer.rstrip().endswith("#"):
                    secret = enable.reveal() if enable is not None else ""
                    channel.sendall(secret.encode() + b"\n")
                    answer = _read_until(channel, r"(?i)[>#]\s*$|password:\s*$", self.timeout)
                if not answer.rstrip().endswith("#"):
                    raise PrivilegeFailed(f"{self.target.host}: enable refused on a fresh login")
        except paramiko.AuthenticationException:
            raise LoginRefused(f"{self.target.host}: login refused for {self._who}") from None
        except paramiko.BadHostKeyException:
            raise HostKeyRejected(f"{self.target.host}: the host key differs from the pin") \
                from None
        except (paramiko.SSHException, OSError, EOFError, TimeoutError) as exc:
            raise ConnectionLost(f"{self.target.host}: fresh login failed: {_first_line(exc)}") \
                from None
        finally:
            client.close()

    @classmethod
    def refuses(cls, target: Target, password: Secret, known_hosts: Path,
                timeout: float) -> bool | None:
        """Authentication only (no shell): True when the device refuses ``password`` for the
        account, False when it accepts it, None when that could not be told."""
        import paramiko

        client = paramiko.SSHClient()
        pin_client(client, known_hosts, target.host, target.port)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            sock = connect_socket(target.host, target.port, timeout)
            client.connect(target.host, target.port, target.username, password.reveal(),
                           sock=sock, timeout=timeout, auth_timeout=timeout,
                           banner_timeout=timeout, allow_agent=False, look_for_keys=False)
        except paramiko.AuthenticationException:
            return True
        except (paramiko.SSHException, OSError, EOFError):
            return None
        finally:
            client.close()
        return False

    @property
    def _who(self) -> str:
        return self.target.login_user

    # -- lifecycle verbs (override per family) --------------------------------------------
    def enter_privileged(self) -> None:
        """Reach the mode that may change passwords; raise PrivilegeFailed if impossible."""

    def account_exists(self) -> bool:
        raise NotImplementedError

    def change(self, new: Secret, old: Secret) -> None:
        """Set the account's password to ``new`` in the running configuration."""
        raise NotImplementedError

    def save(self) -> None:
        """Make the running change survive a reboot (no-op where it already does)."""

    def discard(self) -> None:
        """Leave config mode and drop an uncommitted edit after a rejected change."""

    def revert(self, old: Secret, current: Secret) -> None:
        """Put ``old`` back while ``current`` is the live password. No save: keyturn saves
        only after a verified change, so the saved config still holds ``old``."""
        self.change(old, current)


def connect_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection for SSH with Nagle's algorithm off, as OpenSSH's client does: with it
    on, paramiko's small handshake packets wait for delayed ACKs (~40 ms at key exchange and
    again at authentication, per connection)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


_pinned_classes: dict[str, type] = {}


def _pinned_connection_class(device_type: str) -> type:
    """netmiko's class for ``device_type``, handing paramiko only this host's pinned key
    (netmiko's own alt_key_file loading parses the whole known_hosts file per login) and
    keeping the last prompt it found (``keyturn_prompt``)."""
    if device_type not in _pinned_classes:
        from netmiko.ssh_dispatcher import ssh_dispatcher

        base = ssh_dispatcher(device_type)

        def _get_ssh_client_instance(self: Any) -> Any:
            client = base._get_ssh_client_instance(self)
            pin_client(client, Path(self.alt_key_file), self.host, self.port)
            return client

        def find_prompt(self: Any, *args: Any, **kwargs: Any) -> str:
            # Remembered so a login that lands privileged needs no extra round trip to ask.
            self.keyturn_prompt = base.find_prompt(self, *args, **kwargs)
            return self.keyturn_prompt

        _pinned_classes[device_type] = type(f"Pinned{base.__name__}", (base,), {
            "_get_ssh_client_instance": _get_ssh_client_instance,
            "find_prompt": find_prompt})
    return _pinned_classes[device_type]


def _fail_fast_on_close(conn: Any) -> None:
    """netmiko keeps polling a closed channel until its read timeout; a device that cut the
    session mid-change should be noticed at once, so reads on a closed channel raise."""
    original = conn.read_channel

    def read_channel() -> str:
        data = original()
        channel = conn.remote_conn
        if not data and channel is not None and (channel.closed or channel.eof_received):
            raise EOFError("the device closed the session")
        return data

    conn.read_channel = read_channel


def _read_until(channel: Any, pattern: str, timeout: float) -> str:
    """Read a shell channel until ``pattern`` matches its tail; TimeoutError otherwise.
    Blocking reads (not polling), so the answer is seen the moment it arrives."""
    import time

    deadline = time.monotonic() + timeout
    buffer = ""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no prompt from the device")
        channel.settimeout(remaining)
        try:
            data = channel.recv(65536)
        except TimeoutError:
            raise TimeoutError("no prompt from the device") from None
        if not data:
            raise EOFError("the device closed the session")
        buffer += data.decode("utf-8", "replace")
        if re.search(pattern, buffer[-300:]):
            return buffer


def _first_line(exc: object) -> str:
    text = scrub(str(exc)).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _marker(exc: object) -> str:
    # netmiko's message embeds the command (the new password with it); keep only the match.
    text = scrub(str(exc))
    _, _, matched = text.partition("matched error:")
    return (matched or "error").strip()[:200]
