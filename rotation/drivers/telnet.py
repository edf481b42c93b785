"""Cisco IOS over telnet, only for a target that says `transport = "telnet"`.

Both passwords cross the network in clear: the old one at login, the new one in the
`username ... secret` line and at the verifying login. keyturn does it only when asked by
name (a targets file's `transport`, `rotate --from-inventory --allow-telnet`), and says so
in the plan. There is no peer identity to pin (telnet has none): preflight checks nothing.

The session is netmiko's own `cisco_ios_telnet` (its telnetlib answers option negotiation);
the fresh-login verification is a plain telnet login at the `Username:`/`Password:` prompts.
"""

from __future__ import annotations

import re
from typing import Any

from agent.core.secret import Secret
from rotation.contract import ConnectionLost, LoginRefused, Target, UnsafeValue
from rotation.drivers.cisco import ENABLE_ACCOUNT
from rotation.drivers.cisco_ios import CiscoIosDriver

# What IOS shows after a login: a prompt (logged in), or a refusal / the next attempt.
_LOGGED_IN = re.compile(rb"[>#]\s*$")
_REFUSED = re.compile(rb"(?i)login invalid|authentication failed|username:\s*$")
_USERNAME = re.compile(rb"(?i)(username|login|user name):\s*$")
_PASSWORD = re.compile(rb"(?i)password:\s*$")


class CiscoIosTelnetDriver(CiscoIosDriver):
    platform = "cisco_ios"
    transport = "telnet"
    device_type = "cisco_ios_telnet"
    identity_check = "telnet"

    @classmethod
    def check_target(cls, target: Target) -> None:
        super().check_target(target)
        if target.username == ENABLE_ACCOUNT:
            # Its fresh-login proof needs a shell that leaves and re-enters enable mode;
            # not built over telnet.
            raise UnsafeValue(f"{target.host}: the enable secret is rotated over SSH only")

    def preflight(self) -> None:
        return None

    def open(self, rotated: Secret) -> None:
        """Log in at the Username:/Password: prompts and reach enable mode."""
        from netmiko import ConnectHandler
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
            "read_timeout_override": self.timeout,
            "fast_cli": True,
            # Never a session_log: IOS echoes `username ... secret NEW` into it.
            "session_log": None,
        }
        try:
            self.conn = ConnectHandler(**params)
        except NetmikoAuthenticationException:
            raise LoginRefused(f"{self.target.host}: login refused for {self._who}") from None
        except (NetmikoTimeoutException, OSError, EOFError) as exc:
            raise ConnectionLost(f"{self.target.host}: cannot log in over telnet: {exc}") from None
        with self.guard("privileged mode"):
            self.prompt = self.conn.find_prompt()
            self.enter_privileged(enable)

    def verify(self, rotated: Secret, refused: Secret | None = None) -> bool | None:
        """A fresh telnet login: ``refused`` first (must fail; IOS then asks again on the
        same connection), then ``rotated`` (must reach a prompt)."""
        from netmiko._telnetlib import telnetlib

        user = self.target.login_user
        password, _ = self.credentials(rotated)
        refusal: bool | None = None
        conn: Any = None
        try:
            conn = telnetlib.Telnet(self.target.host, self.target.port, self.timeout)
            if refused is not None:
                refusal = not self._attempt(conn, self.target.username, refused)
                if not refusal or user != self.target.username:
                    conn.close()
                    conn = telnetlib.Telnet(self.target.host, self.target.port, self.timeout)
            if not self._attempt(conn, user, password):
                raise LoginRefused(f"{self.target.host}: login refused for {self._who}")
        except (OSError, EOFError) as exc:
            raise ConnectionLost(f"{self.target.host}: fresh telnet login failed: {exc}") from None
        finally:
            if conn is not None:
                conn.close()
        return refusal

    def _attempt(self, conn: Any, user: str, password: Secret) -> bool:
        """One login at the prompts; True when a CLI prompt follows, False when refused."""
        self._expect(conn, _USERNAME)
        conn.write(self.cli("{name}\r", name=user).encode())
        self._expect(conn, _PASSWORD)
        conn.write(self.cli("{secret}\r", secret=password).encode())
        index, _, _ = conn.expect([_LOGGED_IN, _REFUSED], self.timeout)
        if index == -1:
            raise ConnectionLost(f"{self.target.host}: no answer to the telnet login")
        return index == 0

    def _expect(self, conn: Any, pattern: re.Pattern[bytes]) -> None:
        index, _, _ = conn.expect([pattern], self.timeout)
        if index == -1:
            raise ConnectionLost(f"{self.target.host}: no telnet login prompt")
