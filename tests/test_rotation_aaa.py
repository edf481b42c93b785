"""AAA awareness beyond Cisco (issue 15): Junos `system authentication-order` with
radius/tacplus servers, FortiOS admins with `remote-auth enable` and `config user
radius`/`tacacs+`. The plan, the result and the preflight event say the rotated local
account is the fallback, with the servers; a device without AAA says `local`."""

from __future__ import annotations

import pytest

from rotation.drivers.juniper_junos import junos_auth_servers
from tests.rotation_helpers import Harness, pool  # noqa: F401 - the fixture

SERVERS = ["198.18.0.60", "198.18.0.61"]


@pytest.mark.parametrize("platform", ["juniper_junos", "fortinet"])
def test_aaa_fallback_is_said_in_the_plan_and_the_result(platform, pool, keyring_env, tmp_path):  # noqa: F811
    device = pool.take(f"aaa-{platform}")
    h = Harness(tmp_path)
    h.seed(device)
    [plan] = h.rotate(device.target(), dry_run=True)
    assert "AAA fallback (servers 198.18.0.60, 198.18.0.61)" in plan.plan, plan.error
    [result] = h.rotate(device.target())
    assert result.status == "rotated", result.error
    assert (result.auth, result.aaa_servers) == ("aaa-fallback", SERVERS)
    preflight = [e.detail for e in h.events if e.step == "preflight" and e.outcome == "ok"]
    assert preflight[-1]["auth"] == "aaa-fallback"
    assert preflight[-1]["aaa_servers"] == ",".join(SERVERS)

    plain = pool.take(platform)
    h.seed(plain)
    [local] = h.rotate(plain.target())
    assert local.status == "rotated", local.error
    assert (local.auth, local.aaa_servers) == ("local", [])


def test_junos_order_decides_which_servers_count():
    config = """
host-name r1;
authentication-order [ radius password ];
radius-server {
    10.0.0.1 {
        secret "$9$x"; ## SECRET-DATA
    }
    10.0.0.2 secret "$9$y";
}
tacplus-server {
    10.0.0.3 {
        secret "$9$z"; ## SECRET-DATA
    }
}
login {
    user admin {
        class super-user;
    }
}
"""
    # tacplus servers are configured but not in the order: logins never ask them.
    assert junos_auth_servers(config) == ["10.0.0.1", "10.0.0.2"]
    assert junos_auth_servers(config.replace("authentication-order [ radius password ];", "")) == []
    single = config.replace("[ radius password ]", "tacplus")
    assert junos_auth_servers(single) == ["10.0.0.3"]
