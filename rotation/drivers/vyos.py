"""VyOS (and EdgeOS, its Vyatta sibling): `set system login user NAME authentication
plaintext-password`, `commit-confirm N`, then - once a fresh login proved the password -
`confirm` and `save`.

Between commit-confirm and confirm the device reboots by itself after N minutes unless
confirmed, and a reboot loads config.boot, which `save` has not touched yet: a keyturn that
dies in between leaves a device that falls back to the old password on its own.
"""

from __future__ import annotations

import contextlib

from agent.core.secret import Secret
from rotation.contract import ChangeRejected, SaveFailed
from rotation.drivers.ssh import SshDriver
from rotation.policy import PasswordPolicy

CONFIG = r"#\s*$"


class VyosDriver(SshDriver):
    platform = "vyos"
    device_type = "vyos"
    prompt_end = r"[#$]\s*$"  # user@host# in config mode, user@host:~$ outside
    commit_confirm = True
    confirm_minutes = 2
    # The config CLI is bash: the value is single-quoted, and `*`/`~` stay out anyway.
    policy = PasswordPolicy(max_length=64, symbols="-_.,:+@")
    error_pattern = r"(?i)Commit failed|Set failed|is not valid|Invalid command|^Error|Cannot exit"

    def account_exists(self) -> bool:
        prefix = self.cli("set system login user {name} ", name=self.target.username)
        with self.guard("account lookup"):
            output = self.send("show configuration commands")
        return any(line.strip().startswith(prefix) for line in output.splitlines())

    def _set(self, password: Secret, confirm_minutes: int | None) -> None:
        command = self.cli(
            "set system login user {name} authentication plaintext-password '{new}'",
            name=self.target.username,
            new=password,
        )
        with self.guard("change"):
            self.conn.config_mode()
            self.check_output(self.send(command, expect=CONFIG), "change", ChangeRejected)
            if confirm_minutes is None:
                output = self.send("commit", expect=CONFIG)
            else:
                output = self.send(f"commit-confirm {confirm_minutes}", expect=r"\[confirm\]")
                output += self.send("y", expect=CONFIG, cmd_verify=False)
            self.check_output(output, "commit", ChangeRejected)

    def change(self, new: Secret, old: Secret) -> None:
        self._set(new, self.confirm_minutes)

    def save(self) -> None:
        with self.guard("confirm and save"):
            self.conn.config_mode()
            self.check_output(self.send("confirm", expect=CONFIG), "confirm", SaveFailed)
            output = self.send("save", expect=CONFIG, read_timeout=60)
            self.check_output(output, "save", SaveFailed)
            if "Done" not in output:
                raise SaveFailed("save: the device did not confirm the write")

    def revert(self, old: Secret, current: Secret) -> None:
        # A plain commit, then confirm: the pending reboot would bring old back anyway.
        self._set(old, None)
        with self.guard("confirm"):
            self.send("confirm", expect=CONFIG)

    def close(self) -> None:
        # netmiko leaves configuration mode with `exit` and waits for two seconds of silence
        # (then `exit discard` if changes are uncommitted); one `exit discard` to the prompt
        # does the same at once. Committed changes, a pending commit-confirm included, stay.
        if self.conn is not None:
            with contextlib.suppress(Exception):
                if self.conn.check_config_mode():
                    self.send("exit discard", expect=r"\$\s*$")
        super().close()

    def discard(self) -> None:
        with self.guard("discard"):
            if self.conn.check_config_mode():
                self.send("exit discard", expect=r"\$\s*$")
