"""The Cisco-style family (IOS, ASA, NX-OS, EOS): enable mode, `username` lines, write mem."""

from __future__ import annotations

import re
from typing import ClassVar

from agent.core.secret import Secret
from rotation.drivers.base import (
    ENABLE_ACCOUNT,
    ChangeRejected,
    Driver,
    PrivilegeFailed,
    SaveFailed,
)

__all__ = ["ENABLE_ACCOUNT", "CiscoDriver"]


class CiscoDriver(Driver):
    device_type = "cisco_ios"
    has_enable = True
    error_pattern = r"(?i)^\s*(%|ERROR:)|password is weak|\bfailed\b|aborted"
    # `username NAME ... secret VALUE`: {privilege} is the account's current level.
    username_command: ClassVar[str] = "username {name} privilege {privilege} secret {secret}"
    enable_command: ClassVar[str] = "enable secret {secret}"
    save_ok: ClassVar[str] = r"\[OK\]|Copy complete|successfully"
    prompt_pattern = r"[>#]\s*$"
    _account_line: str | None = None

    def enter_privileged(self) -> None:
        # The prompt netmiko found while setting up the session (nothing has run since).
        if getattr(self.conn, "keyturn_prompt", "").rstrip().endswith("#"):
            return
        if not self.conn.check_enable_mode():
            self.conn.enable()
        if not self.conn.check_enable_mode():
            raise PrivilegeFailed(f"{self.target.host}: could not enter enable mode")

    @property
    def rotates_enable(self) -> bool:
        return self.target.username == ENABLE_ACCOUNT

    def account_line(self) -> str | None:
        # Looked up once per session: account_exists() and the change both need it.
        if self._account_line is not None:
            return self._account_line
        output = self.conn.send_command(
            f"show running-config | include ^username {self.target.username} "
        )
        for line in output.splitlines():
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

    def privilege(self) -> int:
        line = self.account_line() or ""
        match = re.search(r"\bprivilege (\d+)", line)
        return int(match.group(1)) if match else 15

    def change_commands(self, new: Secret, old: Secret) -> list[str]:
        if self.rotates_enable:
            return [self.enable_command.format(secret=new.reveal())]
        return [
            self.username_command.format(
                name=self.target.username, privilege=self.privilege(), secret=new.reveal()
            )
        ]

    def change(self, new: Secret, old: Secret) -> None:
        with self.guard("change"):
            commands = self.change_commands(new, old)
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

