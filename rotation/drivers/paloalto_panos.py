"""Palo Alto PAN-OS: `set mgt-config users NAME password` (asked twice), `commit`.

The commit is a job; the CLI prints its progress and returns when it finished, and only
then is the new password live: the change waits for that line, so verification never
races the job. The commit writes running-config.xml: no separate save.
"""

from __future__ import annotations

from agent.core.secret import Secret
from rotation.contract import ChangeRejected
from rotation.drivers.ssh import SshDriver
from rotation.policy import PasswordPolicy

CONFIG = r"#\s*$"


class PaloaltoPanosDriver(SshDriver):
    platform = "paloalto_panos"
    device_type = "paloalto_panos"
    prompt_end = r"[>#]\s*$"  # admin@PA-VM> operational, admin@PA-VM# configure
    policy = PasswordPolicy(max_length=31)
    error_pattern = r"(?i)Invalid syntax|do not match|Validation Error|Commit failed|^Error"
    needs_save = False

    def account_exists(self) -> bool:
        query = self.cli("show mgt-config users {name}", name=self.target.username)
        with self.guard("account lookup"):
            self.conn.config_mode()
            output = self.send(query, expect=CONFIG)
        return f"{self.target.username} {{" in output

    def change(self, new: Secret, old: Secret) -> None:
        command = self.cli("set mgt-config users {name} password", name=self.target.username)
        answer = self.cli("{new}", new=new)
        with self.guard("change"):
            self.conn.config_mode()
            output = self.send(command, expect=r"Enter password\s*:")
            output += self.send(answer, expect=r"Confirm password\s*:", cmd_verify=False)
            output += self.send(answer, expect=CONFIG, cmd_verify=False)
            self.check_output(output, "change", ChangeRejected)
            output = self.send("commit", expect=CONFIG, read_timeout=300)
        self.check_output(output, "commit", ChangeRejected)
        if "committed successfully" not in output:
            raise ChangeRejected("commit: the job did not report success")

    def discard(self) -> None:
        with self.guard("revert config"):
            if self.conn.check_config_mode():
                self.send("revert config", expect=CONFIG)
