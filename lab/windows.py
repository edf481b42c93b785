"""The lab's Windows side: the Samba AD DC (with the service accounts' passwords keyturn is
handed) and the Windows-like SMB hosts (Samba standalone servers, lab/smb_host.py). Each
starter runs in ``Lab._build``'s thread pool and records its process in the lab's state."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.core.secret import Secret
from lab import records
from lab.topology import HostSpec

if TYPE_CHECKING:
    from lab.site import Lab


def start_smb(lab: Lab, host: HostSpec, hostdir: Path, password: Secret) -> None:
    """``host``'s SMB server with its RID-500 account (``host.smb``: NetBIOS name, account
    name) holding ``password``; its files under ``hostdir``, removed with the lab."""
    from lab import smb_host

    assert host.smb is not None
    netbios, admin = host.smb
    server = smb_host.create(
        host.ip, lab.host_ns(host.name), netbios=netbios, admin_name=admin,
        admin_password=password.reveal(), workdir=hostdir / "smb",
    )  # fmt: skip
    smb_host.start(server)
    assert server.proc is not None
    lab.state.record_process(server.proc.pid, "smbd", host.name)


def start_dc(lab: Lab, host: HostSpec, ad_size: str) -> dict[str, Secret]:
    """The DC, populated; returns the passwords the keyring gets: Administrator's (under
    "") and the enabled service accounts' (users with SPNs), set before the DC starts."""
    from lab import samba_dc

    password = records.password(length=24)
    info = samba_dc.provision(lab.state_dir / "dc", ip=host.ip, admin_password=password)
    expected = samba_dc.populate(info, size=ad_size)
    services = {
        s["sam"]: records.password(length=24)
        for s in expected["service_accounts"]
        if s["kind"] == "user" and s["enabled"]
    }
    proc = samba_dc.start(info, lab.host_ns(host.name), passwords=services)
    lab.state.record_process(proc.pid, "samba", host.name)
    lab.manifest["ad"] = {
        "server": info.ip,
        "realm": info.realm,
        "domain": info.domain,
        "dns_name": info.dns_name,
        "base_dn": info.base_dn,
        "ca_file": str(info.ca_file),
        "admin_user": info.admin_bind_name,
        "admin_sam": info.admin_user,
        "service_accounts": sorted(services),
        "expected": expected,
    }
    lab.host(host.name)["credentials"] = [
        {"username": info.admin_bind_name, "role": "domain_admin"}
    ] + [{"username": sam, "role": "service_account"} for sam in sorted(services)]
    return {"": password, **services}
