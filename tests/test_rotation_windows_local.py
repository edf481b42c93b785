"""Kind windows_local against real Samba standalone servers in a namespace of this module's
own: the local Administrator found by RID 500 whatever its name (renamed, localised), reset
over SAMR, proven by fresh SMB session setups (old refused), reconciled after a kill."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from agent.core.secret import Secret
from lab import netns, smb_host
from rotation.contract import Target
from tests.rotation_helpers import OLD, Harness

SUBNET = "198.18.251"
HOSTS = {  # address -> (NetBIOS name, name of the RID-500 account)
    f"{SUBNET}.31": ("WS31", "admin-old"),
    f"{SUBNET}.32": ("WS32", "Администратор"),
}


@pytest.fixture(scope="module")
def hosts() -> Iterator[dict[str, smb_host.SmbHost]]:
    ns = f"kt-wl-{secrets.token_hex(3)}"
    netns.create(ns)
    started: dict[str, smb_host.SmbHost] = {}
    try:
        netns.add_veth(ns, "h0", "h0peer", ns, address=f"{SUBNET}.31/24")
        netns.ip("addr", "add", f"{SUBNET}.32/24", "dev", "h0", netns=ns)
        for ip, (netbios, admin) in HOSTS.items():
            host = smb_host.create(
                ip, ns, netbios=netbios, admin_name=admin, admin_password=OLD,
                users={"alice": "Alice-Planted-1234"},
            )  # fmt: skip
            started[ip] = smb_host.start(host)
        yield started
    finally:
        for host in started.values():
            smb_host.stop(host)
        netns.delete(ns)


def smb_login_works(host: smb_host.SmbHost, name: str, password: str) -> bool:
    from impacket.smbconnection import SMBConnection

    with netns.inside(host.netns):
        conn = SMBConnection(host.ip, host.ip, sess_port=445, timeout=10)
    try:
        conn.login(name, password)
    except Exception:
        return False
    finally:
        conn.close()
    return True


def harness(tmp_path, host: smb_host.SmbHost) -> Harness:
    h = Harness(tmp_path, scope=f"{SUBNET}.0/24")
    h.secrets.put(host.ip, "rid:500", Secret(OLD), "current", platform="windows_local")
    return h


def target(host: smb_host.SmbHost, **overrides) -> Target:
    fields = {"host": host.ip, "platform": "windows_local", "username": "rid:500", "port": 445}
    return Target(**{**fields, **overrides})


@pytest.mark.parametrize("ip", sorted(HOSTS))
def test_rid500_rotates_whatever_its_name(hosts, keyring_env, tmp_path, ip):
    host = hosts[ip]
    h = harness(tmp_path, host)
    with netns.inside(host.netns):  # the engine's threads are born in the namespace too
        [result] = h.rotate(target(host))
    assert result.status == "rotated", result.error
    assert (result.verified, result.old_password_refused) == (True, True)
    new = h.secrets.get(host.ip, "rid:500").reveal()
    assert new != OLD and smb_login_works(host, host.admin_name, new)
    assert not smb_login_works(host, host.admin_name, OLD)
    # Another local account is untouched.
    assert smb_login_works(host, "alice", "Alice-Planted-1234")
