"""FortiOS: `config system admin` / `edit` / `set password NEW OLD` / `end` (saves).

An admin changing its own password must give the old one after the new one; a failed
edit is dropped with `abort` so a half-edited entry is never committed by a later `end`.
"""

from __future__ import annotations

import re

from agent.core.secret import Secret
from rotation.contract import ChangeRejected
from rotation.drivers.ssh import SshDriver
from rotation.policy import PasswordPolicy

PROMPT = r"#\s*$"


class FortinetDriver(SshDriver):
    platform = "fortinet"
    device_type = "fortinet"
    # FortiOS chokes on `\` and cuts quoted values; 64 is the older firmwares' cap.
    policy = PasswordPolicy(max_length=64)
    error_pattern = (
        r"(?i)Command fail|parse error|must conform|incorrect|Unknown action|MUST be set"
        r"|Failed to"
    )
    needs_save = False

    def account_exists(self) -> bool:
        with self.guard("account lookup"):
            output = self.send("show system admin", expect=PROMPT)
        return f'edit "{self.target.username}"' in output

    def auth_servers(self) -> list[str]:
        """With an admin entry that has `remote-auth enable`, the servers of `config user
        radius` and `config user tacacs+` (read-only `show` commands)."""
        with self.guard("AAA lookup"):
            admins = self.send("show system admin", expect=PROMPT)
            if not re.search(r"(?m)^\s*set remote-auth enable\s*$", admins):
                return []
            config = self.send("show user tacacs+", expect=PROMPT)
            config += "\n" + self.send("show user radius", expect=PROMPT)
        pattern = r'(?m)^\s*set (?:server|secondary-server|tertiary-server) "?([^"\s]+)"?\s*$'
        return re.findall(pattern, config)

    def _send(self, command: str) -> str:
        return self.send(command, expect=PROMPT, cmd_verify=False)

    def change(self, new: Secret, old: Secret) -> None:
        name = self.target.username
        if name == self.target.login_user:
            password = self.cli("set password {new} {old}", new=new, old=old)
        else:
            password = self.cli("set password {new}", new=new)
        with self.guard("change"):
            self._send("config system admin")
            self._send(self.cli('edit "{name}"', name=name))
            output = self._send(password)
            try:
                self.check_output(output, "change", ChangeRejected)
            except ChangeRejected:
                self._send("abort")
                raise
            # `end` applies the edit and writes it to flash in one step.
            output = self._send("end")
            self.check_output(output, "end", ChangeRejected)

    def discard(self) -> None:
        with self.guard("abort"):
            self._send("abort")
