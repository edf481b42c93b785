"""Arista EOS: IOS syntax; the role is kept when only the secret is given."""

from rotation.drivers.cisco import CiscoDriver
from rotation.policy import PasswordPolicy


class AristaEosDriver(CiscoDriver):
    platform = "arista_eos"
    device_type = "arista_eos"
    policy = PasswordPolicy(max_length=64)
