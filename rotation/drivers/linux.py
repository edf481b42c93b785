"""Linux (OpenSSH + PAM): `passwd` answers hidden prompts; /etc/shadow is written at once.

The account changes its own password (current, new, retype); root changing another
account's password is asked only for the new one. Hidden entries are not echoed, so they
are sent with cmd_verify=False.
"""

from __future__ import annotations

import re

from agent.core.secret import Secret
from rotation.contract import ChangeRejected
from rotation.drivers.ssh import SshDriver
from rotation.policy import PasswordPolicy

PROMPTS = r"(?i)(current|new|retype)[^:\n]*password:|\$\s*$|#\s*$"


class LinuxDriver(SshDriver):
    platform = "linux"
    device_type = "linux"
    # A password prompt reads one line: only control characters are syntax there.
    policy = PasswordPolicy(max_length=128, specials="", ascii_only=False)
    # Debian's useradd NAME_REGEX: what a shell and `passwd` can never read as syntax.
    username_grammar = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
    error_pattern = r"(?i)authentication token manipulation error|BAD PASSWORD|failure|Sorry"
    needs_save = False

    def account_exists(self) -> bool:
        with self.guard("account lookup"):
            output = self.send(self.cli("id -u {name}", name=self.target.username))
        return output.strip().isdigit()

    def change(self, new: Secret, old: Secret) -> None:
        own = self.target.username == self.target.login_user
        command = (
            "LC_ALL=C passwd"
            if own
            else self.cli("LC_ALL=C passwd {name}", name=self.target.username)
        )
        answers = {
            "current password:": self.cli("{old}", old=old),
            "new password:": self.cli("{new}", new=new),
        }
        with self.guard("change"):
            output = self.send(command, expect=PROMPTS, cmd_verify=False)
            for _ in range(4):
                lowered = output.lower().rstrip()
                prompt = next((p for p in answers if lowered.endswith(p)), None)
                if prompt is None:
                    break
                output = self.send(answers[prompt], expect=PROMPTS, cmd_verify=False)
                self.check_output(output, "change", ChangeRejected)
        if "successfully" not in output and "updated" not in output:
            raise ChangeRejected("passwd did not confirm the change")
