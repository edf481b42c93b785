"""The Cisco-style family (IOS, ASA, NX-OS, EOS): enable mode, `username` lines, write mem.

The enable secret is a pseudo-account (``ENABLE_ACCOUNT``) in the store, targets and
results: rotating it means `enable secret NEW` after logging in as ``login``. Which
credentials a session needs, and how a fresh login proves an enable secret, are this
family's business (the ``credentials`` and ``verify`` hooks), not the lifecycle's.
"""

from __future__ import annotations

import re
from typing import ClassVar

from agent.core.secret import Secret
from rotation.contract import ChangeRejected, CredentialMissing, PrivilegeFailed, SaveFailed
from rotation.drivers.ssh import SshDriver, read_until

__all__ = ["ENABLE_ACCOUNT", "CiscoDriver"]

ENABLE_ACCOUNT = "enable"


class CiscoDriver(SshDriver):
    device_type = "cisco_ios"
    error_pattern = r"(?i)^\s*(%|ERROR:)|password is weak|\bfailed\b|aborted"
    # `username NAME ... secret VALUE`: {privilege} is the account's current level.
    username_command: ClassVar[str] = "username {name} privilege {privilege} secret {secret}"
    enable_command: ClassVar[str] = "enable secret {secret}"
    save_ok: ClassVar[str] = r"\[OK\]|Copy complete|successfully"
    _account_line: str | None = None

    @property
    def rotates_enable(self) -> bool:
        return self.target.username == ENABLE_ACCOUNT

    def credentials(self, rotated: Secret) -> tuple[Secret, Secret | None]:
        if self.rotates_enable:
            user = self.target.login_user
            login = self.stored(user)
            if login is None:
                raise CredentialMissing(f"no stored password for the login {user}")
            return login, rotated
        return rotated, self.stored(self.target.enable_account or ENABLE_ACCOUNT)

    def enter_privileged(self, enable: Secret | None) -> None:
        # The prompt netmiko found while setting up the session (nothing has run since).
        if self.prompt.rstrip().endswith("#"):
            return
        if not self.conn.check_enable_mode():
            self.conn.enable()
        if not self.conn.check_enable_mode():
            raise PrivilegeFailed(f"{self.target.host}: could not enter enable mode")
        self.prompt = self.conn.find_prompt()

    def account_line(self) -> str | None:
        # Looked up once per session: account_exists() and the change both need it.
        if self._account_line is not None:
            return self._account_line
        query = self.cli(
            "show running-config | include ^username {name} ", name=self.target.username
        )
        for line in self.send(query).splitlines():
            words = line.split()
            if words[:2] == ["username", self.target.username]:
                self._account_line = line
                return line
        return None

    def account_exists(self) -> bool:
        if self.rotates_enable:
            return True
        with self.guard("account lookup"):
            return self.account_line() is not None

    def auth_servers(self) -> list[str]:
        """With `aaa new-model` and a login list that asks a server group before `local`,
        the TACACS+/RADIUS servers configured (old `tacacs-server host X` or the newer
        `tacacs server NAME` / ` address ipv4 X`)."""
        with self.guard("AAA lookup"):
            config = self.send("show running-config").splitlines()
        words = [line.split() for line in config]
        if ["aaa", "new-model"] not in words:
            return []
        login = [w for w in words if w[:3] == ["aaa", "authentication", "login"]]
        if not any("group" in w for w in login):
            return []
        server_lines = (
            ["tacacs-server", "host"], ["radius-server", "host"],
            ["address", "ipv4"], ["address", "ipv6"],
        )  # fmt: skip
        servers = [w[2] for w in words if w[:2] in server_lines and len(w) > 2]
        return servers

    def privilege(self) -> int:
        line = self.account_line() or ""
        match = re.search(r"\bprivilege (\d+)", line)
        return int(match.group(1)) if match else 15

    def change_commands(self, new: Secret) -> list[str]:
        if self.rotates_enable:
            return [self.cli(self.enable_command, secret=new)]
        return [
            self.cli(
                self.username_command,
                name=self.target.username,
                privilege=self.privilege(),
                secret=new,
            )
        ]

    def change(self, new: Secret, old: Secret) -> None:
        with self.guard("change"):
            commands = self.change_commands(new)
            output = self.conn.send_config_set(commands, error_pattern=self.error_pattern)
            self.check_output(output, "change", ChangeRejected)

    def discard(self) -> None:
        with self.guard("leave config mode"):
            if self.conn.check_config_mode():
                self.conn.exit_config_mode()

    def save(self) -> None:
        with self.guard("save"):
            output = self.conn.save_config()
        self.check_output(output, "save", SaveFailed)
        if not re.search(self.save_ok, output):
            raise SaveFailed("save: the device did not confirm the write")

    def verify(self, rotated: Secret, refused: Secret | None = None) -> bool | None:
        """An account's password: authentication proves it. The enable secret: a shell that
        leaves privileged mode and asks `enable` for it again (the old one is not probed:
        a wrong secret at `enable` re-prompts, it tells nothing quickly)."""
        if not self.rotates_enable:
            return super().verify(rotated, refused)
        import paramiko

        login, _ = self.credentials(rotated)
        transport = None
        try:
            transport = self._transport()
            transport.auth_password(self.target.login_user, login.reveal(), fallback=False)
            channel = transport.open_session(timeout=self.timeout)
            channel.get_pty(width=511, height=1000)
            channel.invoke_shell()
            prompt = read_until(channel, r"[>#]\s*$", self.timeout)
            if prompt.rstrip().endswith("#"):
                # A privilege-15 login lands privileged: leave it, then ask again.
                channel.sendall(b"disable\n")
                read_until(channel, r">\s*$", self.timeout)
            channel.sendall(b"enable\n")
            answer = read_until(channel, r"(?i)password:\s*$|#\s*$", self.timeout)
            if not answer.rstrip().endswith("#"):
                channel.sendall(self.cli("{secret}\n", secret=rotated).encode())
                answer = read_until(channel, r"(?i)[>#]\s*$|password:\s*$", self.timeout)
            if not answer.rstrip().endswith("#"):
                raise PrivilegeFailed(f"{self.target.host}: enable refused on a fresh login")
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self._verify_failure(exc)
        finally:
            if transport is not None:
                transport.close()
        return None
