"""Synology DSM: `sudo -S synouser --setpw NAME NEW` (sudo's password on stdin); DSM
writes its user database at once, so there is no separate save."""

from __future__ import annotations

import re

from agent.core.secret import Secret
from rotation.contract import ChangeRejected, CredentialMissing
from rotation.drivers.exec_ssh import ExecDriver
from rotation.policy import PasswordPolicy


class SynologyDsmDriver(ExecDriver):
    platform = "synology_dsm"
    device_type = "synology_dsm"
    policy = PasswordPolicy(max_length=64, symbols="-_.,:+@")
    # DSM's useradd-like names: lower case, digits, `-_.`.
    username_grammar = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
    error_pattern = r"(?i)failed|Sorry, try again|not in the sudoers|is too weak|SynoErr"
    needs_save = False

    def account_exists(self) -> bool:
        output = self.run(self.cli("id -u {name}", name=self.target.username), ChangeRejected)
        return output.strip().isdigit()

    def change(self, new: Secret, old: Secret) -> None:
        own = self.target.username == self.target.login_user
        sudo = old if own else self.stored(self.target.login_user)
        if sudo is None:
            raise CredentialMissing(f"no stored password for the login {self.target.login_user}")
        command = self.cli(
            "sudo -S -p '' synouser --setpw {name} {new}", name=self.target.username, new=new
        )
        self.run(command, ChangeRejected, stdin=self.cli("{sudo}\n", sudo=sudo))
