"""VMware ESXi: `esxcli system account set`, then `/sbin/auto-backup.sh`.

ESXi keeps /etc/shadow in RAM and restores it from the boot bank's state archive at boot;
the archive is rewritten hourly, or now by auto-backup.sh: that is the save.
"""

from __future__ import annotations

from agent.core.secret import Secret
from rotation.contract import ChangeRejected, SaveFailed
from rotation.drivers.exec_ssh import ExecDriver
from rotation.policy import PasswordPolicy


class VmwareEsxiDriver(ExecDriver):
    platform = "vmware_esxi"
    device_type = "vmware_esxi"
    # esxcli's arguments pass a shell: no quoting or expansion characters.
    policy = PasswordPolicy(max_length=40, symbols="-_.,:+@")
    error_pattern = r"(?i)^\s*(Error|The specified password|Unable to)"

    def account_exists(self) -> bool:
        output = self.run("esxcli system account list", ChangeRejected)
        return any(line.split()[:1] == [self.target.username] for line in output.splitlines())

    def change(self, new: Secret, old: Secret) -> None:
        command = self.cli(
            "esxcli system account set -i {name} -p {new} -c {new}",
            name=self.target.username,
            new=new,
        )
        self.run(command, ChangeRejected)

    def save(self) -> None:
        output = self.run("/sbin/auto-backup.sh", SaveFailed)
        if "Saving current state" not in output:
            raise SaveFailed("auto-backup.sh did not save the state")
