"""The family where a password is configuration lines and the save is one command
(ProCurve, Aruba AOS-CX, Dell OS10, Huawei VRP): class attributes, no code per platform.

``account_pattern`` finds the account in ``show_accounts``' output (``{name}`` is the
escaped account name); its named groups (a privilege level, a role, a group) feed the
``change_lines`` templates, so a change keeps what the account already had.
"""

from __future__ import annotations

import re
from typing import ClassVar

from agent.core.secret import Secret
from rotation.contract import ChangeRejected, SaveFailed
from rotation.drivers.ssh import SshDriver


class ConfigLineDriver(SshDriver):
    show_accounts: ClassVar[str] = "show running-config"
    account_pattern: ClassVar[str] = ""
    change_lines: ClassVar[tuple[str, ...]] = ()
    save_command: ClassVar[str] = "write memory"
    # A question the save asks before writing (answered "y"), and what success looks like
    # (None: silence is success, errors are caught by error_pattern).
    save_question: ClassVar[str | None] = None
    save_ok: ClassVar[str | None] = None
    _account: dict[str, str] | None = None

    def account_exists(self) -> bool:
        pattern = self.account_pattern.format(name=re.escape(self.target.username))
        with self.guard("account lookup"):
            output = self.send(self.show_accounts)
        match = re.search(pattern, output, flags=re.M)
        self._account = match.groupdict() if match else None
        return match is not None

    def change(self, new: Secret, old: Secret) -> None:
        if self._account is None and not self.account_exists():
            raise ChangeRejected(f"account {self.target.username} not found")
        values = {**(self._account or {}), "name": self.target.username, "new": new}
        commands = [self.cli(line, **values) for line in self.change_lines]
        with self.guard("change"):
            output = self.conn.send_config_set(commands, error_pattern=self.error_pattern)
        self.check_output(output, "change", ChangeRejected)

    def save(self) -> None:
        prompt = self.prompt_pattern or re.escape(self.prompt.strip())
        with self.guard("save"):
            if self.save_question is None:
                output = self.send(self.save_command, read_timeout=60)
            else:
                output = self.send(self.save_command, expect=f"{self.save_question}|{prompt}")
                if re.search(self.save_question, output):
                    output += self.send("y", cmd_verify=False, read_timeout=60)
        self.check_output(output, "save", SaveFailed)
        if self.save_ok and not re.search(self.save_ok, output):
            raise SaveFailed("save: the device did not confirm the write")

    def discard(self) -> None:
        with self.guard("leave config mode"):
            if self.conn.check_config_mode():
                self.conn.exit_config_mode()
