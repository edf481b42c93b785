"""Cisco IOS / IOS-XE: the family defaults."""

from rotation.drivers.cisco import CiscoDriver
from rotation.policy import PasswordPolicy


class CiscoIosDriver(CiscoDriver):
    platform = "cisco_ios"
    device_type = "cisco_ios"
    # Older IOS trains cap a secret at 25 characters.
    policy = PasswordPolicy(max_length=25)
