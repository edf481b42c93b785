"""Aruba AOS-CX: `user NAME group GROUP password plaintext NEW` (the group kept),
`write memory`."""

from rotation.drivers.config_lines import ConfigLineDriver
from rotation.policy import PasswordPolicy


class ArubaAoscxDriver(ConfigLineDriver):
    platform = "aruba_aoscx"
    device_type = "aruba_aoscx"
    policy = PasswordPolicy(max_length=32)
    error_pattern = r"(?i)^\s*(Invalid input|% Command incomplete|Password does not)"
    account_pattern = r"^user {name} group (?P<group>\S+) password"
    change_lines = ("user {name} group {group} password plaintext {new}",)
    save_ok = r"Success"
