"""FortiOS: `config system admin` / `edit` / `set password NEW OLD` / `end` (saves).

An admin changing its own password must give the old one after the new one; a failed
edit is dropped with `abort` so a half-edited entry is never committed by a later `end`.
"""

from __future__ import annotations

from agent.core.secret import Secret
from rotation.drivers.base import ChangeRejected, Driver
from rotation.policy import PasswordPolicy

PROMPT = r"#\s*$"


class FortinetDriver(Driver):
    platform = "fortinet"
    device_type = "fortinet"
    # FortiOS chokes on `\` and cuts quoted values; 64 is the older firmwares' cap.
    policy = PasswordPolicy(max_length=64)
    error_pattern = (
        r"(?i)Command fail|parse error|must conform|incorrect|Unknown action|MUST be set"
        r"|Failed to"
    )
    needs_save = False
    prompt_pattern = PROMPT

    def account_exists(self) -> bool:
        with self.guard("account lookup"):
            output = self.conn.send_command("show system admin", expect_string=PROMPT)
        return f'edit "{self.target.username}"' in output

    def _send(self, command: str) -> str:
        return self.conn.send_command(command, expect_string=PROMPT, cmd_verify=False)

    def change(self, new: Secret, old: Secret) -> None:
        own = self.target.username == self.target.login_user
        password = f"{new.reveal()} {old.reveal()}" if own else new.reveal()
        with self.guard("change"):
            self._send("config system admin")
            self._send(f'edit "{self.target.username}"')
            output = self._send(f"set password {password}")
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
