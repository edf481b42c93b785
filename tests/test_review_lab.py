"""The firewall review against the lab (issue 17): the simulated FortiGate, ASA, SRX and
RouterOS and the real nftables router nft-gw1 carry rule bases with planted issues
(lab/data/review/, expected.json says which rule carries which). One read-only collection
per device for the module, shared by the assertions; the review itself runs once.

Read-only is proven on the devices themselves: each simulator's saved configuration and rule
base are byte-identical afterwards, its command log shows only display commands and no
change, and nft-gw1's ruleset is the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.review.collect import is_read_only

DATA = Path(__file__).resolve().parent.parent / "lab" / "data" / "review"
EXPECTED = json.loads((DATA / "expected.json").read_text())
COUNTERS = json.loads((DATA / "counters.json").read_text())
HELPER = Path(__file__).with_name("review_lab_collect.py")
KEYTURN = str(Path(sys.executable).with_name("keyturn"))
PLATFORMS = {p: e["host"] for p, e in EXPECTED.items() if not p.startswith("_")}
# What a read-only login and collection may run on each simulator (commands.log names
# handlers, never arguments): netmiko's session preparation and display commands.
READ_HANDLERS = {
    "fortinet": {"cmd_status", "cmd_get_console", "cmd_show", "cmd_show_admins",
                 "cmd_performance", "cmd_iprope", "cmd_iprope_list", "cmd_exit"},
    "cisco_asa": {"cmd_show_curpriv", "cmd_enable", "cmd_noop", "cmd_terminal_pager",
                  "cmd_show_running", "cmd_show_version", "cmd_show_access_list", "cmd_exit"},
    "juniper_junos": {"cmd_screen_width", "cmd_screen_length", "cmd_complete_on_space",
                      "cmd_show_configuration", "cmd_hit_count", "cmd_uptime", "cmd_exit"},
    "mikrotik_routeros": {"cmd_export", "cmd_filter_print", "cmd_nat_print",
                          "cmd_service_print", "cmd_resource_print", "cmd_identity_print",
                          "cmd_quit"},
}  # fmt: skip


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def _device_state(lab, name: str) -> dict:
    """What a review must leave as it was: a simulator's saved config and rule base (bytes)
    and the length of its command log; nft-gw1's ruleset as nft prints it."""
    host = lab.host(name)
    if host["simulator_state_dir"]:
        state = Path(host["simulator_state_dir"])
        log = state / "commands.log"
        return {
            "saved": _sha(state / "saved.json"),
            "rulebase": _sha(state / "rulebase.conf"),
            "log_lines": len(log.read_text().splitlines()) if log.exists() else 0,
        }
    ruleset = subprocess.run(
        ["ip", "netns", "exec", host["netns"], "nft", "list", "ruleset"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {"ruleset": hashlib.sha256(ruleset.encode()).hexdigest(), "rules": ruleset}


@pytest.fixture(scope="module")
def collection(lab, lab_keyring_env, tmp_path_factory) -> dict:
    """Every lab firewall read once, read-only, from the technician namespace; with each
    device's state before and after."""
    targets = {}
    for platform, name in PLATFORMS.items():
        host = lab.host(name)
        user = next(c["username"] for c in host["credentials"] if c["role"] == "admin")
        targets[name] = {"ip": host["ip"], "platform": platform, "username": user, "name": name}
    before = {name: _device_state(lab, name) for name in targets}
    out = tmp_path_factory.mktemp("review-lab") / "collected.json"
    env = _cli_env(lab, lab_keyring_env, out.with_name("store.db"))
    result = subprocess.run(
        [*lab.exec_prefix(), sys.executable, str(HELPER), str(out), json.dumps(targets)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    after = {name: _device_state(lab, name) for name in targets}
    return {"read": json.loads(out.read_text()), "before": before, "after": after}


def _cli_env(lab, keyring_env: dict[str, str], store: Path) -> dict[str, str]:
    """lab_cli_env for a module-scoped fixture: the site config, the session keyring."""
    env = {**os.environ, **keyring_env}
    env.update(KEYTURN_CONFIG=str(lab.site_config_path), KEYTURN_STORE=str(store))
    env["KEYTURN_OPERATOR"] = "tester"
    return env


def _parse(platform: str, collected: dict):
    from agent.review.platforms import parser_for

    parser = parser_for(platform)
    base = parser.parse(collected["config"], device=PLATFORMS[platform])
    if collected["counters"]:
        parser.apply_counters(base, collected["counters"])
    return base


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_collection_returns_the_text_the_parser_reads(collection, platform):
    name = PLATFORMS[platform]
    read = collection["read"][name]
    print(f"{name} ({platform}): collected in {read['seconds']} s")
    assert read["errors"] == [], read["errors"]
    collected = read["collected"]
    assert all(is_read_only(platform, c) for c in collected["commands"]), collected["commands"]
    base = _parse(platform, collected)
    # Every planted rule and setting is in the text, as the device printed it.
    for planted in EXPECTED[platform]["planted"]:
        assert any(m in collected["config"] for m in planted["markers"]), planted
    assert len([r for r in base.rules if not r.implicit]) >= 8, base.warnings
    if platform in COUNTERS:
        # The simulated counters arrive with their baseline, the device's uptime (ASA's
        # `show version` counts only days and hours).
        baseline = base.counter_baseline_seconds
        assert baseline is not None and 0 <= COUNTERS["uptime_seconds"] - baseline < 3600
        counted = [r.hits for r in base.rules if r.hits]
        assert 1834 in counted and 130554 in counted, counted


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_collection_changes_nothing_on_the_device(lab, collection, platform):
    name = PLATFORMS[platform]
    before, after = collection["before"][name], collection["after"][name]
    if platform == "linux":
        assert after["ruleset"] == before["ruleset"]
        return
    assert (after["saved"], after["rulebase"]) == (before["saved"], before["rulebase"])
    assert after["rulebase"], "the simulator carries no rule base"
    state = Path(lab.host(name)["simulator_state_dir"])
    lines = (state / "commands.log").read_text().splitlines()[before["log_lines"] :]
    entries = [line.split() for line in lines]
    assert entries and all(outcome == "same" for _handler, outcome in entries), lines
    handlers = {handler for handler, _ in entries} - {"login"}
    assert handlers <= READ_HANDLERS[platform], handlers - READ_HANDLERS[platform]
