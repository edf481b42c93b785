"""Linux (OpenSSH + PAM): `passwd` answers hidden prompts; /etc/shadow is written at once.

The account changes its own password (current, new, retype); root changing another
account's password is asked only for the new one. Hidden entries are not echoed, so they
are sent with cmd_verify=False.
"""

from __future__ import annotations

from agent.core.secret import Secret
from rotation.drivers.base import ChangeRejected, Driver
from rotation.policy import PasswordPolicy

PROMPTS = r"(?i)(current|new|retype)[^:\n]*password:|\$\s*$|#\s*$"


class LinuxDriver(Driver):
    platform = "linux"
    device_type = "linux"
    policy = PasswordPolicy(max_length=128)
    error_pattern = r"(?i)authentication token manipulation error|BAD PASSWORD|failure|Sorry"
    needs_save = False

    def account_exists(self) -> bool:
        with self.guard("account lookup"):
            output = self.conn.send_command(f"id -u {self.target.username}")
        return output.strip().isdigit()

    def change(self, new: Secret, old: Secret) -> None:
        own = self.target.username == self.target.login_user
        command = "LC_ALL=C passwd" if own else f"LC_ALL=C passwd {self.target.username}"
        with self.guard("change"):
            output = self.conn.send_command(command, expect_string=PROMPTS, cmd_verify=False)
            for _ in range(4):
                lowered = output.lower().rstrip()
                if lowered.endswith("current password:"):
                    answer = old
                elif lowered.endswith(("new password:", "retype new password:")):
                    answer = new
                else:
                    break
                output = self.conn.send_command(
                    answer.reveal(), expect_string=PROMPTS, cmd_verify=False
                )
                self.check_output(output, "change", ChangeRejected)
        if "successfully" not in output and "updated" not in output:
            raise ChangeRejected("passwd did not confirm the change")
