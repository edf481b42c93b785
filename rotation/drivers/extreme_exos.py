"""Extreme EXOS: the interactive `configure account NAME` (the current password first when
the account changes its own), then `save configuration`.

The prompt carries a command counter (`host.7 # `), so answers end at `#`, not at the
prompt seen at login.
"""

from __future__ import annotations

import re

from agent.core.secret import Secret
from rotation.contract import ChangeRejected, SaveFailed
from rotation.drivers.ssh import SshDriver
from rotation.policy import PasswordPolicy

PROMPTS = r"(?:[Cc]urrent user's|[Nn]ew|[Rr]eenter) password:\s*$|#\s*$"


class ExtremeExosDriver(SshDriver):
    platform = "extreme_exos"
    device_type = "extreme_exos"
    policy = PasswordPolicy(max_length=32)
    error_pattern = r"(?i)^\s*(Error:|%% )"
    prompt_pattern = r"#\s*$"

    def account_exists(self) -> bool:
        with self.guard("account lookup"):
            output = self.send("show accounts")
        return any(line.split()[:1] == [self.target.username] for line in output.splitlines())

    def change(self, new: Secret, old: Secret) -> None:
        command = self.cli("configure account {name}", name=self.target.username)
        answers = {
            "current user's password:": self.cli("{old}", old=old),
            "new password:": self.cli("{new}", new=new),
            "reenter password:": self.cli("{new}", new=new),
        }
        with self.guard("change"):
            output = self.send(command, expect=PROMPTS)
            for _ in range(3):
                asked = next(
                    (a for p, a in answers.items() if output.lower().rstrip().endswith(p)), None
                )
                if asked is None:
                    break
                output = self.answer(asked, PROMPTS)
        self.check_output(output, "change", ChangeRejected)
        if not re.search(r"#\s*$", output):
            raise ChangeRejected("configure account: the device kept asking")

    def save(self) -> None:
        with self.guard("save"):
            output = self.send("save configuration", read_timeout=60)
        self.check_output(output, "save", SaveFailed)
        if "successfully" not in output:
            raise SaveFailed("save: the device did not confirm the write")
