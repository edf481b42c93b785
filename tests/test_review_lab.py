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
import re
import subprocess
import sys
import time
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
    started = time.monotonic()
    result = subprocess.run(
        [*lab.exec_prefix(), sys.executable, str(HELPER), str(out), json.dumps(targets)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    print(f"review lab: collection of {len(targets)} firewalls {time.monotonic() - started:.1f} s")
    # The review itself, once per device: the keyring's firewall appliances, then the Linux
    # router (a Linux host is reviewed from the inventory once discovery classes it a
    # firewall; this store has no discovery, so it is named in a targets file).
    linux = targets[PLATFORMS["linux"]]
    targets_file = out.with_name("targets.toml")
    targets_file.write_text(
        f'[[device]]\nhost = "{linux["ip"]}"\nplatform = "linux"\n'
        f'username = "{linux["username"]}"\n'
    )
    devices: dict[str, dict] = {}
    failures: list[str] = []  # asserted by the review's own tests, not the collection's
    for source in (["--from-inventory"], ["--targets", str(targets_file)]):
        review_json = out.with_name(f"review{len(devices)}.json")
        started = time.monotonic()
        review = subprocess.run(
            [*lab.exec_prefix(), KEYTURN, "review", *source, "--json", str(review_json),
             "--out", str(out.with_name("review-out"))],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        print(f"review lab: keyturn review {source[0]} {time.monotonic() - started:.1f} s")
        if review.returncode not in (0, 1) or not review_json.exists():
            failures.append(
                f"{' '.join(source)}: exit {review.returncode}: {review.stderr[-2000:]}"
            )
            continue
        devices.update({d["ip"]: d for d in json.loads(review_json.read_text())["devices"]})
    after = {name: _device_state(lab, name) for name in targets}
    by_name = {name: devices.get(lab.host(name)["ip"]) for name in targets}
    return {
        "read": json.loads(out.read_text()),
        "review": by_name,
        "review_failures": failures,
        "env": env,
        "dir": out.parent,
        "before": before,
        "after": after,
    }


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
    if platform == "linux":
        # nft's JSON, read back from the kernel: every rule of the ruleset file is there.
        comments = re.findall(r'comment "([^"]+)"', (DATA / "linux.nft").read_text())
        assert all(json.dumps(c) in collected["config"] for c in comments), comments
        assert "sudo -n nft -j list ruleset" in collected["commands"]
    # Every planted rule and setting is in the text, as the device printed it.
    for planted in EXPECTED[platform]["planted"] if platform != "linux" else []:
        assert any(m in collected["config"] for m in planted["markers"]), (
            planted,
            collected["commands"],
            collected["config"][:600],
        )
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


def _text(finding: dict) -> str:
    """Everything a finding says about its rule: subject, detail, cited lines, data."""
    data = json.dumps(finding.get("data") or {}, ensure_ascii=False)
    return "\n".join([finding["subject"], finding["detail"], *finding["lines"], data])


def _planted_markers(platform: str) -> list[str]:
    return [m for planted in EXPECTED[platform]["planted"] for m in planted["markers"]]


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_review_reports_every_planted_issue_and_nothing_else(collection, platform):
    assert collection["review_failures"] == []
    device = collection["review"][PLATFORMS[platform]]
    assert device is not None and device["errors"] == [], device and device["errors"]
    findings = device["findings"]
    for planted in EXPECTED[platform]["planted"]:
        hits = [f for f in findings if f["id"] == planted["finding"]
                and any(m in _text(f) for m in planted["markers"])]  # fmt: skip
        assert hits, (planted, [(f["id"], f["subject"]) for f in findings])
        assert all(f["lines"] for f in hits), hits  # every finding cites its config lines
        if "by" in planted:  # shadowed by the union of two rules, both named
            assert all(any(b in _text(f) for f in hits) for b in planted["by"]), hits
    # Nothing on the clean rules: every finding is about a planted rule or setting (the
    # shadowed rule is also unused and redundant; that is the same rule).
    markers = _planted_markers(platform)
    stray = [(f["id"], f["subject"]) for f in findings if not any(m in _text(f) for m in markers)]
    assert stray == [], stray


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_import_config_gives_the_same_answer(lab, collection, platform):
    """The text collected from the device, reviewed offline: the same findings, except the
    ones only counters can give (a backup has no hit counts)."""
    assert collection["review_failures"] == []
    name = PLATFORMS[platform]
    config = collection["dir"] / f"{name}.conf"
    config.write_text(collection["read"][name]["collected"]["config"])
    out = collection["dir"] / f"{name}-import.json"
    result = subprocess.run(
        [*lab.exec_prefix(), KEYTURN, "review", "--import-config", str(config),
         "--platform", platform,
         "--json", str(out), "--out", str(collection["dir"] / f"{name}-import")],
        env=collection["env"], capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    (offline,) = json.loads(out.read_text())["devices"]
    live = collection["review"][name]

    def answer(findings: list[dict]) -> set[tuple[str, str]]:
        return {(f["id"], f["subject"]) for f in findings if f["id"] != "rule_unused"}

    assert answer(offline["findings"]) == answer(live["findings"])
