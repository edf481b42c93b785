"""Juniper Junos: candidate config, plain-text-password prompts, commit (which persists).

`plain-text-password` asks for the password twice at its own prompts, which breaks
send_config_set; the prompts are answered one by one with expect_string.
"""

from __future__ import annotations

from agent.core.secret import Secret
from rotation.drivers.base import ChangeRejected, Driver
from rotation.policy import PasswordPolicy


class JuniperJunosDriver(Driver):
    platform = "juniper_junos"
    device_type = "juniper_junos"
    policy = PasswordPolicy(max_length=128)
    error_pattern = r"(?i)^\s*error:|syntax error|unknown command|commit failed"
    needs_save = False
    # `user@host> ` (or `root@host:~ # ` in the shell for root).
    prompt_pattern = r"[>#%]\s*$"

    def account_exists(self) -> bool:
        if self.target.username == "root":
            return True
        with self.guard("account lookup"):
            output = self.conn.send_command(
                f"show configuration system login user {self.target.username}"
            )
        return "authentication" in output or "class" in output

    def change(self, new: Secret, old: Secret) -> None:
        if self.target.username == "root":
            statement = "set system root-authentication plain-text-password"
        else:
            statement = f"set system login user {self.target.username} authentication " \
                        "plain-text-password"
        with self.guard("change"):
            self.conn.config_mode()
            output = self.conn.send_command(statement, expect_string=r"New password:")
            output += self.conn.send_command(
                new.reveal(), expect_string=r"Retype new password:", cmd_verify=False
            )
            output += self.conn.send_command(new.reveal(), expect_string=r"#", cmd_verify=False)
            self.check_output(output, "change", ChangeRejected)
            output = self.conn.send_command("commit", expect_string=r"#", read_timeout=120)
            self.check_output(output, "commit", ChangeRejected)
            if "commit complete" not in output:
                raise ChangeRejected("commit: the device did not confirm the commit")
            self.conn.exit_config_mode()

    def discard(self) -> None:
        with self.guard("rollback"):
            if self.conn.check_config_mode():
                self.conn.send_command("rollback 0", expect_string=r"#")
                self.conn.exit_config_mode()
