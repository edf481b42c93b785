"""Ubiquiti EdgeRouter (EdgeOS): VyOS's Vyatta CLI, commit-confirm included."""

from rotation.drivers.vyos import VyosDriver


class UbiquitiEdgerouterDriver(VyosDriver):
    platform = "ubiquiti_edgerouter"
    device_type = "ubiquiti_edgerouter"
