"""The names modules imported from here before the contract had its own module
(rotation/contract.py); new code imports rotation.contract and rotation.drivers.ssh."""

from rotation.contract import (
    AccountMissing,
    ChangeRejected,
    ConnectionLost,
    Driver,
    DriverError,
    LoginRefused,
    PrivilegeFailed,
    SaveFailed,
    Target,
)
from rotation.drivers.cisco import ENABLE_ACCOUNT
from rotation.drivers.ssh import HostKeyRejected

__all__ = [
    "ENABLE_ACCOUNT",
    "AccountMissing",
    "ChangeRejected",
    "ConnectionLost",
    "Driver",
    "DriverError",
    "HostKeyRejected",
    "LoginRefused",
    "PrivilegeFailed",
    "SaveFailed",
    "Target",
]
