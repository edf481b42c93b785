"""The simulated client site: ``Lab.up()`` builds it, ``Lab.load(id)`` finds it, ``down()`` ends it.

Layout (every name starts with the lab id, e.g. ``kt1a2b3c``)::

    <id>-tech  198.18.0.250 --+                          +-- 198.18.1.x hosts
    <id>-gw    198.18.0.1   --+-- <id>-lan  [<id>-br]  <id>-rt --+-- <id>-gw 198.18.1.1
    <id>-NAME  198.18.0.x   --+

``<id>-br`` holds both bridges and every host's outer veth end; each host is a namespace of its
own with one veth whose MAC carries its vendor's OUI. The technician namespace has no default
route, only 198.18.1.0/24 via the router, so nothing it sends can leave the lab.

Passwords are made at random (lab/records.py), handed to the simulators, sshd and Samba
through their specs/stdin, and seeded into the keyring of the lab's client; the manifest and
the site config only ever name users.
"""

from __future__ import annotations

import concurrent.futures as cf
import ipaddress
import json
import os
import secrets
import threading
import time
from pathlib import Path

from agent.core.secret import Secret
from lab import daemons, netns, phantoms, records, state, topology, windows, wiring
from lab.topology import DEVICE_USER, ENABLE_PLATFORMS, LINUX_ADMIN, HostSpec

MANIFEST = "manifest.json"
SITE_TOML = "site.toml"
DC_PORTS = [53, 88, 135, 139, 389, 445, 464, 636, 3268, 3269]
WORKERS = 8  # namespace plumbing: bound by ip(8) processes on 2 cores
START_WORKERS = 48  # daemon starts: each job mostly sleeps until its daemon reports ready


class LabError(RuntimeError):
    """The lab could not be built or found."""


class Lab:
    def __init__(self, st: state.LabState, manifest: dict) -> None:
        self.state = st
        self.manifest = manifest
        self._lock = threading.RLock()

    # -- lifecycle ------------------------------------------------------------------------
    @classmethod
    def up(
        cls,
        size: str = "small",
        *,
        lab_id: str | None = None,
        with_dc: bool = True,
        ad_size: str = "small",
        owner_bound: bool = False,
    ) -> Lab:
        """Build a lab and return it once every service answers. On failure nothing is left.

        ``owner_bound``: the lab belongs to this process (a test session); if the process dies
        without ``down()``, the next ``state.reap_orphans()`` removes it."""
        if os.geteuid() != 0:
            raise PermissionError("the lab needs root (network namespaces)")
        if size not in ("small", "large"):
            raise ValueError(f"size must be small or large, not {size!r}")
        lab_id = state.check_lab_id(lab_id) if lab_id else state.new_lab_id()
        if state.in_use(lab_id):
            raise LabError(f"lab id {lab_id} is in use (a lab or namespaces with that prefix)")
        from agent.core.secret_store import SecretStore

        SecretStore(f"lab-{lab_id}")  # no usable keyring: fail now, not after building
        st = state.LabState(
            lab_id,
            size=size,
            owner_pid=os.getpid(),
            owner_bound=owner_bound,
            owner_start_time=state.process_start_time(os.getpid()) or 0,
        )
        st.save()
        lab = cls(st, {})
        try:
            lab._build(with_dc=with_dc, ad_size=ad_size)
        except BaseException:
            state.teardown(st)
            raise
        return lab

    @classmethod
    def load(cls, lab_id: str) -> Lab:
        try:
            st = state.LabState.load(lab_id)
        except FileNotFoundError:
            raise LabError(f"no lab {lab_id} on this machine") from None
        path = st.dir / MANIFEST
        manifest = json.loads(path.read_text()) if path.exists() else {}
        return cls(st, manifest)

    def down(self, *, forget_secrets: bool = True) -> None:
        """Remove every namespace and process this lab recorded, then (unless told not to) the
        lab's keyring entries, which can be slow with a costly keyring backend."""
        client = self.manifest.get("client")
        state.teardown(self.state)
        if client and forget_secrets:
            records.forget_secrets(client)

    # -- what other code uses ---------------------------------------------------------------
    @property
    def lab_id(self) -> str:
        return self.state.lab_id

    @property
    def client(self) -> str:
        return f"lab-{self.lab_id}"

    @property
    def state_dir(self) -> Path:
        return self.state.dir

    @property
    def tech_ns(self) -> str:
        return f"{self.lab_id}-tech"

    @property
    def bridge_ns(self) -> str:
        return f"{self.lab_id}-br"

    @property
    def site_config_path(self) -> Path:
        return self.state_dir / SITE_TOML

    @property
    def store_path(self) -> Path:
        return self.state_dir / "inventory.db"

    def exec_prefix(self) -> list[str]:
        """argv prefix that runs a command in the technician namespace."""
        return netns.exec_prefix(self.tech_ns)

    def host(self, name: str) -> dict:
        for entry in self.manifest["hosts"]:
            if entry["name"] == name:
                return entry
        raise KeyError(name)

    def host_ns(self, name: str) -> str:
        return f"{self.lab_id}-{name}"

    # -- planting changes (tests restore what they change) ---------------------------------
    def add_host(
        self, name: str, ip: str, *, vendor: str = "Dell", device_class: str = "workstation", **spec
    ) -> dict:
        """Plug a new host into the running lab and return its manifest entry.

        ``spec`` takes the other ``lab.topology.HostSpec`` fields (``tcp``, ``udp``,
        ``http_title``, ``http_server``, ``snmp=Snmp(...)``, ``sshd``, ``platform``, ``legacy``);
        a ``platform`` host gets a simulator and its password seeded into the keyring.
        """
        host = HostSpec(name, ip, vendor, device_class, **spec)
        address = ipaddress.ip_address(ip)
        if address not in topology.LAN and address not in topology.ROUTED:
            raise LabError(f"{ip} is in neither {topology.LAN} nor {topology.ROUTED}")
        with self._lock:
            if name in ("br", "tech") or any(h["name"] == name for h in self.manifest["hosts"]):
                raise LabError(f"host name {name!r} is taken")
            if any(ip in (h["ip"], *h.get("other_ips", [])) for h in self.manifest["hosts"]):
                raise LabError(f"address {ip} is taken")
            index = self.manifest["next_index"]
            self.manifest["next_index"] += 1
            self.state.plan_namespaces([self.host_ns(name)])
        taken = {h["mac"] for h in self.manifest["hosts"]}
        try:
            entry = self._plumb_host(host, index, taken)
        except BaseException:
            netns.delete(self.host_ns(name))
            raise
        with self._lock:
            self.manifest["hosts"].append(entry)
        try:
            with cf.ThreadPoolExecutor(START_WORKERS) as pool:
                passwords = self._start_hosts(
                    [host], self.manifest["snmp_community"], pool, tag=f"services-{name}"
                )
            records.seed_keyring(self, [host], passwords, {})
        except BaseException:
            self.remove_host(name)  # half a host would confuse every later test
            raise
        self._save_manifest()
        return entry

    def remove_host(self, name: str) -> None:
        """Unplug ``name``: its daemons stop, its veth and namespace go."""
        entry = self.host(name)
        ns = entry["netns"]
        with self._lock:
            mine = [p for p in self.state.processes if p.host == name]
            state.kill_processes(mine, [ns])
            netns.ip("link", "del", entry["bridge_port"], netns=self.bridge_ns, check=False)
            netns.delete(ns)
            self.state.processes = [p for p in self.state.processes if p.host != name]
            self.state.namespaces.remove(ns)
            self.state.save()
            self.manifest["hosts"].remove(entry)
            self.manifest.get("wiring", {}).get("access", {}).pop(name, None)
        wiring.write_views(self)
        self._save_manifest()

    # -- building -----------------------------------------------------------------------------
    def _build(self, *, with_dc: bool, ad_size: str) -> None:
        t0 = time.monotonic()
        hosts = topology.small_hosts()
        if not with_dc:
            hosts = [h for h in hosts if not h.dc]
        community = "kt-" + secrets.token_hex(4)
        self.manifest = {
            "lab_id": self.lab_id,
            "client": self.client,
            "size": self.state.size,
            "tech": {"netns": self.tech_ns, "ip": topology.TECH_IP, "iface": f"{self.lab_id}-t0"},
            "subnets": {"lan": str(topology.LAN), "routed": str(topology.ROUTED)},
            "snmp_community": community,
            "hosts": [],
            "ad": None,
            "timings": {},
            "next_index": len(hosts),
        }
        self.state.plan_namespaces(
            [self.bridge_ns, self.tech_ns]
            + [self.host_ns(h.name) for h in hosts]
            + ([phantoms.tcp_namespace(self)] if self.state.size == "large" else [])
        )
        self._build_core()
        taken: set[str] = set()
        with cf.ThreadPoolExecutor(WORKERS) as pool:
            entries = list(
                pool.map(lambda ih: self._plumb_host(ih[1], ih[0], taken), enumerate(hosts))
            )
        self.manifest["hosts"] = entries
        self._timing("network", t0)
        tcp_served: list[dict] = []
        if self.state.size == "large":
            state.raise_neighbour_limits(self.state)
            self.manifest["phantoms"] = phantoms.install(self)
            tcp_served = phantoms.install_tcp(self)
            self.manifest["tcp_phantoms"] = phantoms.tcp_phantoms()
            self._timing("phantoms", t0)
        dc_future = None
        with cf.ThreadPoolExecutor(START_WORKERS) as pool:
            if with_dc:
                dc_host = next(h for h in hosts if h.dc)
                dc_future = pool.submit(windows.start_dc, self, dc_host, ad_size)
            tcp_phantoms = (
                pool.submit(self._run_services, tcp_served, "tcp-phantoms") if tcp_served else None
            )
            passwords = self._start_hosts(hosts, community, pool)
            if tcp_phantoms is not None:
                tcp_phantoms.result()
            ad_passwords = dc_future.result() if dc_future else {}
        self._timing("services", t0)
        self.manifest["wiring"] = wiring.plan(self.manifest["hosts"])
        wiring.write_views(self)
        records.seed_keyring(self, hosts, passwords, ad_passwords)
        self._timing("keyring", t0)
        records.write_site_config(self, community)
        self.state.status = "up"
        self.state.save()
        self._save_manifest()

    def _timing(self, what: str, t0: float) -> None:
        self.manifest["timings"][what] = round(time.monotonic() - t0, 2)

    def _build_core(self) -> None:
        br, tech, lab_id = self.bridge_ns, self.tech_ns, self.lab_id
        netns.create(
            br,
            sysctls={
                "net.bridge.bridge-nf-call-iptables": "0",
                "net.bridge.bridge-nf-call-arptables": "0",
            },
        )
        netns.add_bridge(br, f"{lab_id}-lan")
        netns.add_bridge(br, f"{lab_id}-rt")
        netns.create(tech)
        prefix = 16 if self.state.size == "large" else 24
        netns.add_veth(
            tech, f"{lab_id}-t0", f"{lab_id}-xt", br, address=f"{topology.TECH_IP}/{prefix}"
        )
        netns.attach_to_bridge(br, f"{lab_id}-xt", f"{lab_id}-lan")
        # Only the routed subnet, via the router: no default route out of the lab.
        netns.ip("route", "add", str(topology.ROUTED), "via", topology.ROUTER_LAN_IP, netns=tech)

    def _plumb_host(self, host: HostSpec, index: int, taken: set[str]) -> dict:
        """Namespace + veth for one host (the router also gets its routed-side leg)."""
        br, lab_id, ns = self.bridge_ns, self.lab_id, self.host_ns(host.name)
        router = host.ip == topology.ROUTER_LAN_IP
        # arp_ignore=1: like a hardware router, answer ARP only for the asking interface's own
        # address (Linux would otherwise also offer 198.18.1.1 on the LAN).
        netns.create(
            ns,
            sysctls={"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.arp_ignore": "1"}
            if router
            else None,
        )
        with self._lock:
            mac = topology.mac_for(lab_id, host.name, host.vendor, taken)
        outer = f"{lab_id}-x{index}"
        bits = topology.LAN.prefixlen if host.subnet == "lan" else topology.ROUTED.prefixlen
        netns.add_veth(ns, f"{lab_id}-h{index}", outer, br, mac=mac, address=f"{host.ip}/{bits}")
        netns.attach_to_bridge(br, outer, f"{lab_id}-{'lan' if host.subnet == 'lan' else 'rt'}")
        other_ips, other_macs = [], []  # the router's routed leg (the lab wiring needs its MAC)
        if router:
            with self._lock:
                other_macs.append(topology.mac_for(lab_id, "gw-routed", host.vendor, taken))
            netns.add_veth(
                ns,
                f"{lab_id}-r1",
                f"{lab_id}-xr",
                br,
                mac=other_macs[0],
                address=f"{topology.ROUTER_ROUTED_IP}/{topology.ROUTED.prefixlen}",
            )
            netns.attach_to_bridge(br, f"{lab_id}-xr", f"{lab_id}-rt")
            other_ips.append(topology.ROUTER_ROUTED_IP)
        else:
            netns.ip("route", "add", "default", "via", host.gateway, netns=ns)
        return {
            "name": host.name,
            "netns": ns,
            "ip": host.ip,
            "other_ips": other_ips,
            "other_macs": other_macs,
            "mac": mac,
            "vendor": host.vendor,
            "device_class": host.device_class,
            "platform": host.platform,
            "legacy": host.legacy,
            "subnet": host.subnet,
            "bridge_port": outer,
            "services": [],
            "snmp": None,
            "http_title": host.http_title,
            "credentials": [],
            "simulator_state_dir": None,
        }

    def _start_hosts(
        self,
        hosts: list[HostSpec],
        community: str,
        pool: cf.ThreadPoolExecutor,
        tag: str = "services",
    ) -> dict[str, Secret]:
        """Start every daemon; return the passwords made up for them (by host name)."""
        workdir = self.state_dir / "hosts"
        sims = _available_platforms()
        passwords: dict[str, Secret] = {}
        jobs = []
        for host in hosts:
            hostdir = workdir / host.name
            hostdir.mkdir(parents=True, exist_ok=True)
            entry = self.host(host.name)
            entry["services"] = topology.services_of(
                host, simulated=host.platform in sims, dc_ports=DC_PORTS
            )
            if host.snmp:
                entry["snmp"] = {
                    "community": community,
                    "sys_descr": host.snmp.sys_descr,
                    "sys_object_id": host.snmp.sys_object_id,
                    "sys_name": host.name,
                }
                jobs.append(
                    pool.submit(
                        self._run,
                        host,
                        "snmpd",
                        daemons.start_snmpd,
                        hostdir,
                        community,
                        marker="NET-SNMP version",
                    )
                )
            if host.sshd:
                secret = records.password("linux") if host.local_admin else None
                if secret is not None:
                    passwords[host.name] = secret
                    entry["credentials"] = [{"username": LINUX_ADMIN, "role": "admin"}]
                    entry["platform"] = "linux"
                jobs.append(
                    pool.submit(
                        self._run,
                        host,
                        "sshd",
                        daemons.start_sshd,
                        hostdir,
                        secret,
                        marker="Server listening on",
                    )
                )
            if host.smb:
                passwords[host.name] = records.password("windows_local")
                entry["credentials"] = [{"username": "rid:500", "role": "local_admin"}]
                entry["smb"] = {"netbios": host.smb[0], "admin_name": host.smb[1]}
                jobs.append(
                    pool.submit(windows.start_smb, self, host, hostdir, passwords[host.name])
                )
            if host.platform in sims:
                passwords[host.name] = records.password(host.platform)
                enable = (
                    records.password(host.platform) if host.platform in ENABLE_PLATFORMS else None
                )
                if enable is not None:
                    passwords[host.name + "/enable"] = enable
                entry["credentials"] = [{"username": DEVICE_USER, "role": "admin"}] + (
                    [{"username": "enable", "role": "enable"}] if enable is not None else []
                )
                entry["simulator_state_dir"] = str(hostdir / "sim")
                jobs.append(
                    pool.submit(self._start_simulator, host, hostdir, passwords[host.name], enable)
                )
        served = [
            {
                "name": h.name,
                "netns": self.host_ns(h.name),
                "ip": h.ip,
                # smbd answers 445 on an SMB host; this process its NetBIOS name on 137/udp.
                "tcp": [p for p in h.tcp if not (h.smb and p == 445)],
                "udp": h.udp,
                "netbios": h.smb[0] if h.smb else None,
                "mac": self.host(h.name)["mac"],
                "http_title": h.http_title,
                "http_server": h.http_server,
            }
            for h in hosts
            if h.tcp or h.udp
        ]
        if served:
            jobs.append(pool.submit(self._run_services, served, tag))
        for job in jobs:
            job.result()
        return passwords

    def _run(self, host: HostSpec, what: str, starter, *args, marker: str) -> None:
        ns = self.host_ns(host.name)
        proc = starter(ns, host, *args)
        self.state.record_process(proc.pid, what, host.name)
        daemons.wait_ready(proc, self.state_dir / "hosts" / host.name / f"{what}.log", marker)

    def _run_services(self, served: list[dict], tag: str) -> None:
        workdir = self.state_dir / "services"
        workdir.mkdir(exist_ok=True)
        proc = daemons.start_services(self.bridge_ns, served, workdir, tag)
        self.state.record_process(proc.pid, "services", None if tag == "services" else tag)
        daemons.wait_ready(proc, workdir / f"{tag}.log", "ready")

    def _start_simulator(
        self, host: HostSpec, hostdir: Path, password: Secret, enable: Secret | None
    ) -> None:
        (hostdir / "sim").mkdir(exist_ok=True)
        spec = {
            "devices": [
                {
                    "name": host.name,
                    "platform": host.platform,
                    "listen": f"{host.ip}:22",
                    "state_dir": str(hostdir / "sim"),
                    "hostname": host.name,
                    "users": {DEVICE_USER: {"password": password.reveal(), "privilege": 15}},
                    "enable_secret": enable.reveal() if enable is not None else None,
                    "legacy": host.legacy,
                    "rulebase": str(daemons.RULESETS / host.rulebase) if host.rulebase else None,
                }
            ]
        }
        proc = daemons.start_simulator(self.host_ns(host.name), spec, hostdir)
        self.state.record_process(proc.pid, "simulator", host.name)
        try:
            daemons.wait_ready(proc, hostdir / "simulator.log", "ready", timeout=60)
        finally:
            # The simulator has read its spec by now; the passwords must not stay on disk.
            (hostdir / "simulator.json").unlink(missing_ok=True)

    def _save_manifest(self) -> None:
        with self._lock:
            tmp = self.state_dir / (MANIFEST + ".tmp")
            tmp.write_text(json.dumps(self.manifest, indent=1))
            os.replace(tmp, self.state_dir / MANIFEST)


def _available_platforms() -> set[str]:
    try:
        from lab.simulators.platforms import PLATFORMS
    except ImportError:
        return set()
    return set(PLATFORMS)
