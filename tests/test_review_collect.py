"""Pure logic of the review's collection and of the simulators' rule-base views (issue 17):
milliseconds, no device. The live side is tests/test_review_lab.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.errors import UsageError
from agent.review.collect import check_read_only, collect, is_read_only
from lab.simulators import rulebase

DATA = Path(__file__).resolve().parent.parent / "lab" / "data" / "review"


@pytest.mark.parametrize(
    ("platform", "command"),
    [
        ("fortinet", "config system console"),
        ("fortinet", "set output standard"),
        ("fortinet", "execute reboot"),
        ("fortinet", "show firewall policy; config system console"),
        ("cisco_asa", "configure terminal"),
        ("cisco_asa", "terminal width 511"),
        ("cisco_asa", "write memory"),
        ("juniper_junos", "configure"),
        ("juniper_junos", "request system reboot"),
        ("mikrotik_routeros", "/ip firewall filter remove 0"),
        ("mikrotik_routeros", "/user set admin password=x"),
        ("mikrotik_routeros", "/system reset-configuration"),
        ("linux", "nft flush ruleset"),
        ("linux", "sudo nft -j list ruleset"),  # sudo only as -n: never a password prompt
        ("linux", "nft -j list ruleset; reboot"),
        ("unknown_platform", "show running-config"),
    ],
)
def test_commands_that_change_or_run_anything_are_refused(platform, command):
    assert not is_read_only(platform, command)
    with pytest.raises(UsageError, match="not a read-only command"):
        check_read_only(platform, [command])


def test_the_parsers_commands_are_all_read_only():
    from agent.review.platforms import PLATFORMS

    for platform, parser in PLATFORMS.items():
        check_read_only(platform, [*parser.CONFIG_COMMANDS, *parser.COUNTER_COMMANDS])


def test_collect_joins_the_outputs_and_retries_a_root_reader_through_sudo():
    commands = (("nft -j list ruleset", "iptables-save -c"), ("cat /proc/uptime",))
    answers = {
        "nft -j list ruleset": "-bash: nft: command not found",
        "sudo -n nft -j list ruleset": '{"nftables": []}',
        "iptables-save -c": "iptables-save v1.8.9: Permission denied (you must be root)",
        "sudo -n iptables-save -c": "# empty",
        "cat /proc/uptime": "7269120.00 100.0",
    }
    result = collect("linux", answers.__getitem__, commands)
    assert result.config == '{"nftables": []}\n# empty'
    assert result.counters == "7269120.00 100.0"
    assert result.errors == [] and result.ok
    assert result.commands == list(answers)


def test_a_refused_read_is_an_error_never_an_empty_rule_base():
    answers = {
        "nft -j list ruleset": "Operation not permitted (you must be root)",
        "sudo -n nft -j list ruleset": "sudo: a password is required",
    }
    result = collect("linux", answers.__getitem__, (("nft -j list ruleset",), ()))
    assert result.config == "" and not result.ok
    assert result.errors == ["nft -j list ruleset: sudo: a password is required"]


def test_a_counter_command_the_firmware_lacks_costs_the_counts_not_the_review():
    answers = {"show": "config firewall policy\nend", "diagnose firewall iprope list 100004": (
        "Unknown action 0")}  # fmt: skip
    commands = (("show",), ("diagnose firewall iprope list 100004",))
    result = collect("fortinet", answers.__getitem__, commands)
    assert result.config == "config firewall policy\nend"
    assert result.counters == "" and result.errors == [] and result.ok


def test_a_failed_or_lost_config_read_is_an_error():
    result = collect("fortinet", lambda c: "Unknown action 0", (("show",), ()))
    assert result.errors == ["show: Unknown action 0"] and not result.ok

    def lost(command: str) -> str:
        raise TimeoutError("no prompt")

    result = collect("cisco_asa", lost, (("show running-config",), ()))
    assert result.errors == ["show running-config: no prompt"] and not result.ok


def test_collect_refuses_a_parser_command_that_is_not_read_only():
    sent = []
    with pytest.raises(UsageError):
        collect("fortinet", lambda c: sent.append(c) or "", (("show", "config system console"), ()))
    assert sent == []  # refused before anything reached the device


# --- the simulators' views of the rule bases -------------------------------------------------
def test_routeros_export_is_the_file_and_terse_joins_continuations():
    text = (DATA / "mikrotik_routeros.conf").read_text()
    assert rulebase.routeros_export(text, [], False, "wifi-rtr1") == text.rstrip("\n")
    terse = rulebase.routeros_export(text, ["ip", "firewall", "nat"], True, "x").splitlines()
    assert terse[-1] == (
        '/ip firewall nat add action=dst-nat chain=dstnat comment="RDP to TS01" dst-port=3389 '
        "in-interface-list=WAN protocol=tcp to-addresses=192.168.88.50 to-ports=3389"
    )


def test_fortios_show_scopes_and_keeps_defaults_out():
    text = (DATA / "fortinet.conf").read_text()
    entry = rulebase.fortios_show(text, ["firewall", "policy", "9"])
    assert entry is not None and entry.splitlines()[1] == "    edit 9"
    assert "set action" not in entry  # a deny policy as FortiOS prints it
    assert rulebase.fortios_show(text, ["firewall", "nosuch"]) is None
    listed = rulebase.fortios_iprope_list(text, {"5": 1834})
    assert "policy index=5 uuid_idx=45 action=accept" in listed and "hit count:1834" in listed
    assert "policy index=6 " not in listed  # disabled: not in the kernel's list


def test_asa_views_split_object_nat_and_number_remarks():
    text = (DATA / "cisco_asa.conf").read_text()
    nat = rulebase.asa_running(text, ["nat"]).splitlines()
    assert nat[-2:] == ["object network LAN_net", " nat (inside,outside) dynamic interface"]
    assert " nat " not in rulebase.asa_running(text, ["object"])
    acl = rulebase.asa_access_lists(text, {"INSIDE_IN 5": 0}, "INSIDE_IN")
    assert "access-list INSIDE_IN line 4 remark old catch-all" in acl
    assert "line 6 extended permit tcp object LAN_net object DMZ_printers eq 631 log" in acl
    assert "(hitcnt=0) (inactive)" in acl


def test_junos_tree_navigates_zone_pairs():
    header, tree = rulebase.junos_tree((DATA / "juniper_junos.conf").read_text())
    assert header == ["## Last commit: 2026-11-02 14:11:09 UTC by admin"]
    pair = rulebase.junos_find(tree, ["security", "policies", "from-zone trust to-zone dmz"])
    assert pair is not None and "inactive: policy guest-printing" in pair


def test_read_only_sessions_leave_fortios_paging_and_asa_config_mode_alone():
    """netmiko's own FortiOS preparation turns console paging off (`config system console`)
    and back on at disconnect; its ASA preparation enters config mode for the terminal
    width. The review's session classes do neither (the lab test proves it on the devices)."""
    from types import SimpleNamespace

    from agent.ops.review_session import read_only
    from rotation.drivers import driver_for

    fortinet = read_only(driver_for("fortinet"))
    conn_class = fortinet.connection_class(SimpleNamespace(device_type="fortinet", prompt_end=None))
    sent: list[str] = []
    session = SimpleNamespace(_original_output_mode="more", send_multiline=sent.extend)
    assert conn_class.disable_paging(session) == ""
    assert sent == []
    asa = read_only(driver_for("cisco_asa"))
    assert asa.connection_options(SimpleNamespace(device_type="cisco_asa")) == {
        "allow_auto_change": False
    }
    assert read_only(driver_for("cisco_asa")) is asa  # built once per driver
