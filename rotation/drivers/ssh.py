"""The SSH family base: a netmiko session, host-key pins, auth-only verification logins.

A platform is a small subclass that sets the netmiko device_type, its error markers and
implements ``account_exists`` and ``change`` with commands built by ``cli`` (never by
interpolating a raw string). Hooks a family overrides: ``credentials`` (what to log in
with: Cisco adds the enable secret), ``enter_privileged`` and ``verify``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from agent.core.errors import OperationFailed, UsageError
from agent.core.identifiers import check_username
from agent.core.secret import Secret, scrub
from rotation.contract import (
    ChangeRejected,
    ConnectionLost,
    Driver,
    DriverError,
    LoginRefused,
    PeerIdentity,
    PeerRejected,
    UnsafeValue,
    check_secret,
)
from rotation.hostkeys import HostKeyChanged, known_hosts_name, pin_client

# netmiko logs every byte it reads at DEBUG (a changed password included) and paramiko
# prints transport errors through the root logger: keep both out of every handler. keyturn
# reports what happened through its own results and logger.
for _name in ("netmiko", "paramiko"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)
    logging.getLogger(_name).propagate = False


class HostKeyRejected(PeerRejected):
    """The device presented a key other than the pinned one; nothing was sent."""


class SshDriver(Driver):
    """A netmiko session with the lifecycle verbs; subclasses set the class attributes."""

    device_type: ClassVar[str] = ""
    identity_check = "hostkey"
    # Regex (multiline) that marks an error in any device output.
    error_pattern: ClassVar[str] = r"(?i)^\s*%\s*(error|invalid|incomplete)"
    # What ends every answer, where the prompt found at login does not (EXOS numbers each
    # prompt, VyOS/Junos change it in config mode); None: that login prompt.
    prompt_pattern: ClassVar[str | None] = None
    # What ends a prompt in either mode, for netmiko's configuration-mode check (which
    # otherwise waits for two seconds of silence each time); None: netmiko's own check.
    prompt_end: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn: Any = None
        self.prompt = ""

    @property
    def known_hosts(self) -> Path:
        return Path(self.env.pins.path)

    @property
    def timeout(self) -> float:
        return self.env.timeout

    # -- building commands ---------------------------------------------------------------
    def cli(self, template: str, **values: str | int | Secret) -> str:
        """``template`` with each value checked: a str must be an account name of this
        platform's grammar, a Secret must be safe inside a command (policy.unsafe), an int
        is formatted; anything else is refused. Callers never interpolate themselves."""
        return build_command(template, self.username_grammar, self.policy, **values)

    # -- preflight and login ---------------------------------------------------------------
    def preflight(self) -> PeerIdentity:
        """Pin the host key on first contact (key exchange only, no authentication); a host
        already pinned is not probed: every later connection checks the pin itself."""
        from rotation.hostkeys import HostKeyPins

        pins: HostKeyPins = self.env.pins
        try:
            fingerprint, first = pins.check(self.target.host, self.target.port, self.timeout)
        except HostKeyChanged as exc:
            raise HostKeyRejected(str(exc)) from None
        except OperationFailed as exc:
            raise ConnectionLost(str(exc)) from None
        return PeerIdentity(fingerprint, first)

    def credentials(self, rotated: Secret) -> tuple[Secret, Secret | None]:
        """(login password, privileged-mode secret) while ``rotated`` is the account's."""
        return rotated, None

    def open(self, rotated: Secret) -> None:
        """Log in as the target's login account and reach privileged mode."""
        import paramiko
        from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException

        password, enable = self.credentials(rotated)
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
        params.update(self.connection_options())
        sock = None
        try:
            sock = connect_socket(self.target.host, self.target.port, self.timeout)
            self.conn = self.connection_class()(**params, sock=sock)
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
        self.prompt = getattr(self.conn, "keyturn_prompt", "")
        with self.guard("privileged mode"):
            self.enter_privileged(enable)

    def connection_class(self) -> type:
        """The netmiko class that logs in (a read-only session prepares it differently)."""
        return _pinned_connection_class(self.device_type, self.prompt_end)

    def connection_options(self) -> dict[str, Any]:
        """Extra netmiko connection arguments of a subclass."""
        return {}

    def enter_privileged(self, enable: Secret | None) -> None:
        """Reach the mode that may change passwords; raise PrivilegeFailed if impossible."""

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

    @property
    def _who(self) -> str:
        return self.target.login_user

    # -- sending -----------------------------------------------------------------------------
    def send(self, command: str, expect: str | None = None, **kwargs: Any) -> str:
        """One command, read until ``expect`` (default: ``prompt_pattern`` or the prompt
        found at login, so netmiko does not detect the prompt again before every command)."""
        pattern = expect or self.prompt_pattern
        if pattern is None and self.prompt:
            pattern = re.escape(self.prompt.strip())
        if pattern:
            kwargs["expect_string"] = pattern
        return self.conn.send_command(command, **kwargs)

    def answer(self, text: str, expect: str) -> str:
        """Answer a device's question (a hidden password prompt): written as is, read until
        ``expect``. Not ``send``: some netmiko drivers (EXOS) probe the prompt with an
        Enter before every command, which would answer the question with nothing."""
        self.conn.write_channel(text + self.conn.RETURN)
        return self.conn.read_until_pattern(expect, read_timeout=self.timeout)

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

    # -- verification ------------------------------------------------------------------------
    def verify(self, rotated: Secret, refused: Secret | None = None) -> bool | None:
        """Authentication only, on one connection: first ``refused`` (must fail), then
        ``rotated`` (must succeed). A password login that authenticates proves the password;
        no shell, no prompt detection: one key exchange for both answers."""
        import paramiko

        password, _ = self.credentials(rotated)
        user = self.target.login_user
        refusal: bool | None = None
        transport = None
        try:
            transport = self._transport()
            asked = False  # the ssh-userauth service was requested on this transport
            if refused is not None:
                try:
                    transport.auth_password(self.target.username, refused.reveal(), fallback=False)
                    refusal = False
                except paramiko.AuthenticationException:
                    refusal = True
                except (paramiko.SSHException, EOFError):
                    refusal = None  # could not tell; the proof below decides the rest
                asked = True
                if refusal is not True or user != self.target.username or not transport.is_active():
                    # Authenticated already, another user to log in as (OpenSSH allows
                    # one per connection) or the device hung up: a connection of its own.
                    transport.close()
                    transport = self._transport()
                    asked = False
            if asked:
                auth_again(transport, user, password.reveal())
            else:
                transport.auth_password(user, password.reveal(), fallback=False)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self._verify_failure(exc)
        finally:
            if transport is not None:
                transport.close()
        return refusal

    def _verify_failure(self, exc: BaseException) -> NoReturn:
        """The typed error for a failed fresh login."""
        import paramiko

        if isinstance(exc, paramiko.AuthenticationException):
            raise LoginRefused(f"{self.target.host}: login refused for {self._who}") from None
        if isinstance(exc, paramiko.BadHostKeyException):
            raise HostKeyRejected(
                f"{self.target.host}: the host key differs from the pin"
            ) from None
        raise ConnectionLost(
            f"{self.target.host}: fresh login failed: {_first_line(exc)}"
        ) from None

    def _transport(self) -> Any:
        """An SSH transport past key exchange with the pinned host key checked."""
        import paramiko

        sock = connect_socket(self.target.host, self.target.port, self.timeout)
        transport = paramiko.Transport(sock)
        transport.banner_timeout = self.timeout
        transport.auth_timeout = self.timeout
        try:
            transport.start_client(timeout=self.timeout)
            key = transport.get_remote_server_key()
            client = paramiko.SSHClient()
            pin_client(client, self.known_hosts, self.target.host, self.target.port)
            name = known_hosts_name(self.target.host, self.target.port)
            pinned = client.get_host_keys().lookup(name) or {}
            if pinned.get(key.get_name()) != key:
                raise paramiko.BadHostKeyException(name, key, next(iter(pinned.values()), key))
        except BaseException:
            transport.close()
            raise
        return transport


def auth_again(transport: Any, username: str, password: str) -> None:
    """A second password attempt on a transport whose first one failed.

    ``Transport.auth_password`` asks for the ssh-userauth service again before every attempt;
    OpenSSH tolerates that, but servers that follow RFC 4252 to the letter (asyncssh, some
    appliances) hang up. An OpenSSH client sends its further attempts without that request,
    and so does this: paramiko's own request builder, fed the service acceptance it already
    had (paramiko 4.x, pinned in pyproject). AuthenticationException when refused."""
    import threading

    import paramiko

    handler = transport.auth_handler
    event = threading.Event()
    with transport.lock:
        handler.auth_event = event
        handler.auth_method = "password"
        handler.username = username
        handler.password = password
        accepted = paramiko.Message()
        accepted.add_string("ssh-userauth")
        accepted.rewind()
        handler._parse_service_accept(accepted)
    handler.wait_for_response(event)


def build_command(
    template: str, grammar: re.Pattern[str], policy: Any, **values: str | int | Secret
) -> str:
    """``template.format(**values)`` once every value is proven to be data (UnsafeValue
    otherwise); the result is one line."""
    checked: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, Secret):
            checked[key] = check_secret(value, policy, key)
        elif isinstance(value, bool) or not isinstance(value, (str, int)):
            raise TypeError(f"{key}: a command takes names, numbers and secrets only")
        elif isinstance(value, int):
            checked[key] = str(value)
        else:
            try:
                checked[key] = check_username(value, key, grammar)
            except UsageError as exc:
                raise UnsafeValue(str(exc)) from None
    return template.format(**checked)


def connect_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection for SSH with Nagle's algorithm off, as OpenSSH's client does: with it
    on, paramiko's small handshake packets wait for delayed ACKs (~40 ms at key exchange and
    again at authentication, per connection)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


_pinned_classes: dict[tuple[str, str | None], type] = {}


def _pinned_connection_class(device_type: str, prompt_end: str | None = None) -> type:
    """netmiko's class for ``device_type``, handing paramiko only this host's pinned key
    (netmiko's own alt_key_file loading parses the whole known_hosts file per login) and
    keeping the last prompt it found (``keyturn_prompt``). With ``prompt_end``, the first read
    after login and every check of configuration mode read up to the next prompt instead of
    waiting for two seconds of silence, which netmiko does for some platforms at each (a
    login and several checks per change)."""
    key = (device_type, prompt_end)
    if key not in _pinned_classes:
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

        methods: dict[str, Any] = {
            "_get_ssh_client_instance": _get_ssh_client_instance,
            "find_prompt": find_prompt,
        }
        if prompt_end is not None:

            def check_config_mode(
                self: Any, check_string: str = "#", pattern: str = "", **kw: Any
            ) -> bool:
                return base.check_config_mode(
                    self, check_string=check_string, pattern=pattern or prompt_end, **kw
                )

            def _test_channel_read(self: Any, count: int = 40, pattern: str = "") -> str:
                return base._test_channel_read(self, count=count, pattern=pattern or prompt_end)

            methods["check_config_mode"] = check_config_mode
            methods["_test_channel_read"] = _test_channel_read
        _pinned_classes[key] = type(f"Pinned{base.__name__}", (base,), methods)
    return _pinned_classes[key]


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


def read_until(channel: Any, pattern: str, timeout: float) -> str:
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
