"""MikroTik RouterOS: `/user set NAME password=NEW`; the change is saved immediately."""

from __future__ import annotations

from agent.core.secret import Secret
from rotation.contract import ChangeRejected
from rotation.drivers.ssh import SshDriver
from rotation.policy import CLI_SPECIALS, PasswordPolicy


class MikrotikRouterosDriver(SshDriver):
    platform = "mikrotik_routeros"
    device_type = "mikrotik_routeros"
    # RouterOS scripting gives `$ ; [ ] { } " \ = ,` meaning; keep to inert symbols.
    policy = PasswordPolicy(max_length=64, symbols="-_.+@", specials=CLI_SPECIALS + "=,")
    error_pattern = r"(?i)^\s*(failure:|bad command|syntax error|expected|input does not match)"
    needs_save = False

    def account_exists(self) -> bool:
        with self.guard("account lookup"):
            output = self.send("/user print")
        # Table rows: "<index> <name> <group> ..."
        return any(line.split()[1:2] == [self.target.username] for line in output.splitlines())

    def change(self, new: Secret, old: Secret) -> None:
        command = self.cli("/user set {name} password={new}", name=self.target.username, new=new)
        with self.guard("change"):
            output = self.send(command, cmd_verify=False)
        self.check_output(output, "change", ChangeRejected)
