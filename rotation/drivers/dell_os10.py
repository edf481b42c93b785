"""Dell OS10: `username NAME password NEW role ROLE` (the role kept), copy run start."""

from rotation.drivers.config_lines import ConfigLineDriver
from rotation.policy import PasswordPolicy


class DellOs10Driver(ConfigLineDriver):
    platform = "dell_os10"
    device_type = "dell_os10"
    policy = PasswordPolicy(max_length=32)
    error_pattern = r"(?i)^\s*%\s*(error|invalid|incomplete)"
    account_pattern = r"^username {name} password \S+ role (?P<role>\S+)"
    change_lines = ("username {name} password {new} role {role}",)
    save_command = "copy running-configuration startup-configuration"
