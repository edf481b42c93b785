"""The device classes discovery gives a host: the one vocabulary shared by the rule table,
the inventory, the checklist (which maps each class to a checklist kind) and the rotation
configuration (which classes may be rotated)."""

from __future__ import annotations

NETWORK_CLASSES = ("router", "firewall", "switch", "access_point")
DEVICE_CLASSES = (
    *NETWORK_CLASSES, "printer", "nas", "hypervisor", "voip", "server", "workstation",
    "storage",  # SAN and scale-out storage arrays (NetApp, Pure, Isilon, MSA)
    "ups", "pdu",  # power: UPS management cards, switched/metered PDUs
    "camera",  # IP cameras and NVRs
    "bmc",  # out-of-band management controllers: iLO, iDRAC, CIMC, IPMI
    "iot",  # sensors and other embedded things with an admin interface
    "other",  # answers SNMP and says who made it, but is none of the above
    "unknown",
)  # fmt: skip
