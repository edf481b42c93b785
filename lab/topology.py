"""What the simulated client site looks like: addresses, names and the hosts that pretend to be
routers, firewalls, printers, NAS boxes, phones and Windows machines.

Pure data and naming rules, no side effects: ``lab.site`` turns it into namespaces and
processes. MAC prefixes are real OUIs (checked against netaddr's bundled IEEE registry in the
tests) so vendor lookup during discovery sees what the host pretends to be.
"""

from __future__ import annotations

import ipaddress
import zlib
from dataclasses import dataclass, field

LAN = ipaddress.ip_network("198.18.0.0/24")
ROUTED = ipaddress.ip_network("198.18.1.0/24")
LARGE = ipaddress.ip_network("198.18.0.0/16")
ROUTER_LAN_IP = "198.18.0.1"
ROUTER_ROUTED_IP = "198.18.1.1"
TECH_IP = "198.18.0.250"
DC_IP = "198.18.0.10"

OUI = {
    "Cisco": "00:00:0c",
    "Fortinet": "00:09:0f",
    "Juniper": "00:05:85",
    "MikroTik": "4c:5e:0c",
    "Arista": "00:1c:73",
    "HP": "3c:d9:2b",
    "Synology": "00:11:32",
    "Dell": "00:14:22",
    "VMware": "00:0c:29",
    "Polycom": "00:04:f2",
    "Ubiquiti": "24:a4:3c",
    "Microsoft": "00:15:5d",  # Hyper-V guests
    "Intel": "00:1b:21",
}

# Platforms whose CLI has a separate enable secret (stored under user "enable").
ENABLE_PLATFORMS = {"cisco_ios", "cisco_asa", "arista_eos"}
# The login user netmiko drives on each simulated platform.
DEVICE_USER = "admin"
LINUX_ADMIN = "itadmin"


@dataclass(frozen=True)
class Snmp:
    sys_descr: str
    sys_object_id: str


@dataclass
class HostSpec:
    """One simulated host. ``tcp``/``udp`` are the ports the lab's services process answers on
    (ssh, snmp and the DC's ports come from their own daemons)."""

    name: str
    ip: str
    vendor: str
    device_class: str
    platform: str | None = None  # netmiko device_type for simulated network devices
    legacy: bool = False  # SHA-1-only key exchange
    sshd: bool = False  # a real OpenSSH server
    local_admin: bool = False  # sshd host with a password-login admin account
    # A firewall's rule base (a file of lab/data/review/): a simulated device prints it as
    # its configuration; an sshd host becomes a Linux router with it as nftables ruleset
    # (LAN/WAN legs as veth pairs inside its namespace, sudo for the admin to read the ruleset).
    rulebase: str | None = None
    http_title: str | None = None
    http_server: str = "lighttpd"
    snmp: Snmp | None = None
    tcp: list[int] = field(default_factory=list)
    udp: list[int] = field(default_factory=list)
    dc: bool = False
    # A real SMB/SAMR server (Samba standalone, lab/smb_host.py) on 445 instead of a silent
    # port: (NetBIOS name, name of its RID-500 account), whose password the keyring holds
    # as rid:500. The NetBIOS name is also answered on 137/udp, as discovery asks it.
    smb: tuple[str, str] | None = None

    @property
    def subnet(self) -> str:
        return "routed" if ipaddress.ip_address(self.ip) in ROUTED else "lan"

    @property
    def gateway(self) -> str:
        return ROUTER_ROUTED_IP if self.subnet == "routed" else ROUTER_LAN_IP


def mac_for(lab_id: str, name: str, vendor: str, taken: set[str]) -> str:
    """A stable, lab-unique MAC under the vendor's OUI."""
    n = zlib.crc32(f"{lab_id}/{name}".encode()) & 0xFFFFFF
    while True:
        mac = f"{OUI[vendor]}:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}"
        if mac not in taken:
            taken.add(mac)
            return mac
        n = (n + 1) & 0xFFFFFF


def _dev(
    name: str, ip: str, vendor: str, cls: str, platform: str, descr: str, oid: str, title: str, **kw
) -> HostSpec:
    return HostSpec(
        name,
        ip,
        vendor,
        cls,
        platform=platform,
        snmp=Snmp(descr, oid),
        http_title=title,
        tcp=[80],
        **kw,
    )


# Windows-like hosts that answer SMB/SAMR with real local accounts: NetBIOS name and the
# RID-500 account's name (ws02's is renamed). FS01 is a computer LAPS manages in the lab's
# directory (lab/ad_fixture.py): keyturn leaves its Administrator to LAPS.
SMB_HOSTS = {"files1": ("FS01", "Administrator"), "ws01": ("WS01", "Administrator"),
             "ws02": ("WS02", "admin-old")}  # fmt: skip


def _win(name: str, ip: str, vendor: str, cls: str = "workstation", rdp: bool = True) -> HostSpec:
    return HostSpec(name, ip, vendor, cls, tcp=[445, 3389] if rdp else [445],
                    smb=SMB_HOSTS.get(name))  # fmt: skip


def small_hosts() -> list[HostSpec]:
    """The small site: ~30 hosts, a few of them behind the router on 198.18.1.0/24."""
    hosts = [
        # The site's gateway: a simulated EdgeRouter that keyturn rotates (commit-confirm).
        HostSpec(
            "gw",
            ROUTER_LAN_IP,
            "Ubiquiti",
            "router",
            platform="ubiquiti_edgerouter",
            http_title="EdgeOS",
            snmp=Snmp("EdgeOS v2.0.9-hotfix.7", "1.3.6.1.4.1.41112.1.5"),
            tcp=[80],
        ),
        _dev(
            "fw1",
            "198.18.0.2",
            "Fortinet",
            "firewall",
            "fortinet",
            "FortiGate-60F v7.2.5",
            "1.3.6.1.4.1.12356.101.1.641",
            "FortiGate - Login",
            http_server="xxxxxxxx-xxxxx",
            rulebase="fortinet.conf",
        ),
        _dev(
            "asa1",
            "198.18.0.3",
            "Cisco",
            "firewall",
            "cisco_asa",
            "Cisco Adaptive Security Appliance Version 9.8(4)",
            "1.3.6.1.4.1.9.1.2315",
            "Cisco ASDM",
            legacy=True,
            rulebase="cisco_asa.conf",
        ),
        _dev(
            "core-sw1",
            "198.18.0.4",
            "Cisco",
            "switch",
            "cisco_nxos",
            "Cisco NX-OS(tm) n9000, Software (n9000-dk9), Version 9.3(8)",
            "1.3.6.1.4.1.9.12.3.1.3.1812",
            "Cisco NX-OS",
        ),
        _dev(
            "dist-sw1",
            "198.18.0.5",
            "Arista",
            "switch",
            "arista_eos",
            "Arista Networks EOS version 4.28.3M running on an Arista DCS-7050SX3-48YC8",
            "1.3.6.1.4.1.30065.1.3011.7050.3741.48",
            "Arista EOS",
        ),
        _dev(
            "edge-srx1",
            "198.18.0.6",
            "Juniper",
            "firewall",
            "juniper_junos",
            "Juniper Networks, Inc. srx340 internet router, kernel JUNOS 21.4R3",
            "1.3.6.1.4.1.2636.1.1.1.2.135",
            "Log In - Juniper Web Device Manager",
            rulebase="juniper_junos.conf",
        ),
        _dev(
            "wifi-rtr1",
            "198.18.0.7",
            "MikroTik",
            "router",
            "mikrotik_routeros",
            "RouterOS RB4011iGS+",
            "1.3.6.1.4.1.14988.1",
            "RouterOS router configuration page",
            rulebase="mikrotik_routeros.conf",
        ),
        _dev(
            "access-sw1",
            "198.18.0.8",
            "Cisco",
            "switch",
            "cisco_ios",
            "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E7",
            "1.3.6.1.4.1.9.1.1208",
            "Cisco Systems",
        ),
        HostSpec("dc1", DC_IP, "Microsoft", "server", dc=True),
        HostSpec(
            "files1",
            "198.18.0.11",
            "Microsoft",
            "server",
            http_title="IIS Windows Server",
            http_server="Microsoft-IIS/10.0",
            tcp=[80, 445, 3389],
            smb=SMB_HOSTS["files1"],
        ),
        HostSpec(
            "linux1",
            "198.18.0.12",
            "Dell",
            "server",
            sshd=True,
            local_admin=True,
            http_title="Apache2 Debian Default Page: It works",
            http_server="Apache/2.4.57 (Debian)",
            tcp=[80],
        ),
        # A Linux router with a real nftables rule base (planted issues for the review).
        HostSpec(
            "nft-gw1",
            "198.18.0.9",
            "Dell",
            "server",
            sshd=True,
            local_admin=True,
            rulebase="linux.nft",
        ),
        HostSpec(
            "esxi1",
            "198.18.0.13",
            "VMware",
            "hypervisor",
            sshd=True,
            http_title="VMware ESXi",
            http_server="VMware ESXi",
            snmp=Snmp(
                "VMware ESXi 7.0.3 build-21930508 VMware, Inc. x86_64", "1.3.6.1.4.1.6876.4.1"
            ),
            tcp=[80],
        ),
        HostSpec(
            "nas1",
            "198.18.0.14",
            "Synology",
            "nas",
            sshd=True,
            http_title="Synology DiskStation - nas1",
            http_server="nginx",
            snmp=Snmp(
                "Linux nas1 4.4.302+ #69057 SMP x86_64 synology_geminilake_920+",
                "1.3.6.1.4.1.8072.3.2.10",
            ),
            tcp=[80, 445],
        ),
        HostSpec(
            "web1",
            "198.18.0.15",
            "Dell",
            "server",
            sshd=True,
            http_title="Intranet",
            http_server="nginx/1.22.1",
            tcp=[80],
        ),
        HostSpec(
            "prn1",
            "198.18.0.20",
            "HP",
            "printer",
            http_title="HP LaserJet Pro M404dn",
            http_server="HP HTTP Server; HP LaserJet Pro M404dn",
            snmp=Snmp(
                "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153", "1.3.6.1.4.1.11.2.3.9.1"
            ),
            tcp=[80, 9100],
        ),
        HostSpec(
            "prn2",
            "198.18.0.21",
            "HP",
            "printer",
            http_title="HP Color LaserJet MFP M479fdw",
            http_server="HP HTTP Server; HP Color LaserJet MFP M479fdw",
            snmp=Snmp(
                "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153", "1.3.6.1.4.1.11.2.3.9.1"
            ),
            tcp=[80, 9100],
        ),
        HostSpec(
            "ap1",
            "198.18.0.30",
            "Ubiquiti",
            "access_point",
            sshd=True,
            http_title="UniFi AP",
            snmp=Snmp("UAP-AC-Pro 6.5.28", "1.3.6.1.4.1.41112.1.6"),
            tcp=[80],
        ),
        HostSpec(
            "ap2",
            "198.18.0.31",
            "Ubiquiti",
            "access_point",
            http_title="UniFi AP",
            snmp=Snmp("UAP-AC-Lite 6.5.28", "1.3.6.1.4.1.41112.1.6"),
            tcp=[80],
        ),
    ]
    for i, ip in enumerate(("198.18.0.40", "198.18.0.41", "198.18.0.42"), start=1):
        hosts.append(
            HostSpec(
                f"phone{i}",
                ip,
                "Polycom",
                "voip",
                http_title="Polycom VVX 411",
                http_server="Polycom SoundPoint IP Telephone HTTPd",
                tcp=[80],
                udp=[5060],
            )
        )
    for i in range(1, 9):
        vendor = "Intel" if i % 2 else "Dell"
        hosts.append(_win(f"ws{i:02d}", f"198.18.0.{49 + i}", vendor, rdp=i <= 5))
    # Behind the router: discovery must find these by routed probes, not ARP.
    hosts += [
        _dev(
            "branch-sw1",
            "198.18.1.2",
            "Cisco",
            "switch",
            "cisco_ios",
            "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E7",
            "1.3.6.1.4.1.9.1.1208",
            "Cisco Systems",
        ),
        HostSpec(
            "app1",
            "198.18.1.10",
            "VMware",
            "server",
            sshd=True,
            http_title="App Portal",
            http_server="nginx/1.22.1",
            tcp=[80],
        ),
        HostSpec(
            "prn3",
            "198.18.1.20",
            "HP",
            "printer",
            http_title="HP LaserJet Pro M404dn",
            http_server="HP HTTP Server; HP LaserJet Pro M404dn",
            snmp=Snmp(
                "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153", "1.3.6.1.4.1.11.2.3.9.1"
            ),
            tcp=[80, 9100],
        ),
        _win("ws20", "198.18.1.50", "Intel"),
    ]
    return hosts


def services_of(host: HostSpec, *, simulated: bool, dc_ports: list[int]) -> list[dict]:
    """The ports a scan of ``host`` should find, as manifest entries."""
    names = {
        80: "http",
        445: "microsoft-ds",
        3389: "ms-wbt-server",
        9100: "jetdirect",
        53: "domain",
        88: "kerberos-sec",
        135: "msrpc",
        139: "netbios-ssn",
        389: "ldap",
        464: "kpasswd5",
        636: "ldapssl",
        3268: "globalcatLDAP",
        3269: "globalcatLDAPssl",
    }
    out = []
    if host.sshd or (host.platform and simulated):
        out.append({"port": 22, "proto": "tcp", "service": "ssh"})
    for port in sorted(set(host.tcp) | set(dc_ports if host.dc else [])):
        out.append({"port": port, "proto": "tcp", "service": names.get(port, "unknown")})
    for port in host.udp:
        out.append({"port": port, "proto": "udp", "service": "sip"})
    if host.snmp:
        out.append({"port": 161, "proto": "udp", "service": "snmp"})
    return out
