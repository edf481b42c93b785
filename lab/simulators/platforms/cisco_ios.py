"""Cisco IOS: the family defaults, a privilege-15 login lands in `#`."""

from __future__ import annotations

from lab.simulators.platforms.cisco import CiscoShell


class CiscoIosShell(CiscoShell):
    platform = "cisco_ios"
    reject_text = "% Password does not meet the password policy requirements"
    save_fail_text = "%Error opening nvram:startup-config (No space left on device)"
    version_text = (
        "Cisco IOS Software, C2900 Software (C2900-UNIVERSALK9-M), Version 15.7(3)M8, "
        "RELEASE SOFTWARE (fc2)\n"
        "Technical Support: http://www.cisco.com/techsupport\n"
        "ROM: System Bootstrap, Version 15.0(1r)M16, RELEASE SOFTWARE (fc1)\n\n"
        "{hostname} uptime is 12 weeks, 3 days, 4 hours, 2 minutes\n"
        'System image file is "flash0:c2900-universalk9-mz.SPA.157-3.M8.bin"\n\n'
        "Cisco CISCO2911/K9 (revision 1.0) with 487424K/36864K bytes of memory.\n"
        "Processor board ID FTX1840ALBN\n"
        "Configuration register is 0x2102"
    )
    static_config = (
        "interface GigabitEthernet0/0\n ip address 198.18.0.1 255.255.255.0\n!\n"
        "line vty 0 4\n login local\n transport input ssh\n!"
    )
