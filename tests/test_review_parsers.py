"""The contract every firewall review parser keeps (agent/review/platforms/__init__.py), run
on every registered parser: the registry, hostile input, redaction, evidence and order.

Pure parsing: the whole module runs in well under a second.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from agent.core.errors import UsageError
from agent.review.model import RuleBase
from agent.review.platforms import PLATFORMS, parser_for
from agent.review.platforms._common import redact_line

DATA = Path(__file__).parent / "data" / "review"

# A representative configuration per platform, each carrying credentials in the platform's
# own idioms; every secret below must never reach a RuleBase.
SAMPLES = {
    "fortinet": "fortinet_sample.conf",
    "cisco_asa": "cisco_asa_sample.cfg",
    "juniper_junos": "juniper_junos_sample.conf",
    "mikrotik_routeros": "mikrotik_routeros_sample.rsc",
    "cisco_ios": "cisco_ios_sample.cfg",
    "cisco_nxos": "cisco_nxos_sample.cfg",
    "arista_eos": "arista_eos_sample.cfg",
    "linux": "linux_nft_sample.txt",
}
SECRETS = {
    "fortinet": ("SH2abcdefSECRETSECRET", "XXXXsecret", "abcdefsecret", "MIIFHDBOBgkqhkiG9w0B"),
    "cisco_asa": ("8Ry2YjIyt7RRXU24", "X1sbQ4b4hcg5u6Bf", "fB6vPzx1K7YxD8oM", "supersecret"),
    "juniper_junos": ("ROOTHASHROOTHASH", "ADMINHASHADMIN", "PSKSECRETPSK", "CLIENTSECRET"),
    "mikrotik_routeros": ("L2TPSECRETVALUE", "PPPSECRETVALUE", "PPPOESECRET", "USERSECRETVALUE"),
    "cisco_ios": ("ENABLEHASHENABLE", "USERHASHUSERHASH", "ISAKMPKEYSECRET", "S3cretRW",
                  "CONSOLEPASSWORD7", "VTYPASSWORD7"),
    "cisco_nxos": ("NXADMINHASH", "private"),
    "arista_eos": ("EOSADMINHASH", "public"),
    "linux": (),  # a ruleset holds no credentials
}  # fmt: skip


def sample(platform: str) -> str:
    return (DATA / SAMPLES[platform]).read_text()


def strings(value) -> list[str]:
    """Every string a RuleBase holds, however deep."""
    if isinstance(value, str):
        return [value]
    if dataclasses.is_dataclass(value):
        return [s for f in dataclasses.fields(value) for s in strings(getattr(value, f.name))]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in strings(item)]
    return []


def check_invariants(base: RuleBase, platform: str) -> None:
    assert base.platform == platform
    positions: dict[str, list[int]] = {}
    for rule in base.rules:
        assert rule.lines, f"{rule.id} cites no config line"
        assert rule.action in ("permit", "deny")
        positions.setdefault(rule.table, []).append(rule.position)
        for address in (rule.sources, rule.destinations):
            assert all(0 <= lo <= hi < 2**32 for lo, hi in address.ranges)
        for service in rule.services:
            assert all(0 <= lo <= hi <= 65535 for lo, hi in service.ports)
    ids = [rule.id for rule in base.rules]
    assert len(ids) == len(set(ids)), "rule ids must be unique in a rule base"
    for table, seen in positions.items():
        # First-match order: base.rules lists each table in order, positions 0..n-1.
        assert seen == list(range(len(seen))), table
    for text in strings(base):
        assert text.isprintable(), ascii(text)


def test_registry_lists_every_platform_module():
    assert {"fortinet", "cisco_asa"} <= set(PLATFORMS)
    for platform, module in PLATFORMS.items():
        assert platform == module.PLATFORM
        assert isinstance(module.CONFIG_COMMANDS, tuple) and module.CONFIG_COMMANDS
        assert isinstance(module.COUNTER_COMMANDS, tuple)
    assert parser_for("fortinet") is PLATFORMS["fortinet"]


def test_unknown_platform_is_a_usage_error_naming_the_known_ones():
    with pytest.raises(UsageError) as caught:
        parser_for("paloalto\x1b[2J")
    message = str(caught.value)
    assert "fortinet" in message and "cisco_asa" in message and "\x1b" not in message


def test_every_platform_has_a_sample():
    assert set(SAMPLES) == set(PLATFORMS)


@pytest.mark.parametrize("platform", sorted(SAMPLES))
def test_sample_parses_clean_with_evidence_and_order(platform):
    base = parser_for(platform).parse(sample(platform), "dev1")
    assert base.rules and base.device == "dev1"
    check_invariants(base, platform)
    assert base.warnings == []


@pytest.mark.parametrize("platform", sorted(SAMPLES))
def test_secrets_never_reach_the_rule_base(platform):
    text = sample(platform)
    for secret in SECRETS[platform]:
        assert secret in text  # the sample really carries it
    base = parser_for(platform).parse(text)
    joined = "\n".join(strings(base))
    for secret in SECRETS[platform]:
        assert secret not in joined


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_control_characters_and_huge_lines_become_warnings(platform):
    hostile = (
        "\x1b[31mconfig\x00 firewall\x07 policy\x1b[0m\r\n"
        + "x" * 100_000
        + "\n\u202e\u200bedit 1\n\x00\x01\x02\n}{\n"
        + "access-list X extended permit tcp any any eq 99999\n"
    )
    base = parser_for(platform).parse(hostile, "bad\x1bhost")
    check_invariants(base, platform)
    assert any("longer than" in w for w in base.warnings)


_SPLICES = ['"', "'", "{", "}", "[", "]", ";", "\\", "=", "!", "/", ":", "999999", "1.2.3",
            "255.255.255.255", "\x00", "any", "host", "eq", "range", "object-group", "edit",
            "next", "end", "set", "add", "jump", "inactive:", "\u202e"]  # fmt: skip


@pytest.mark.parametrize("platform", sorted(SAMPLES))
def test_mangled_samples_never_raise(platform):
    """Truncated, shuffled and spliced copies of a real-looking config, line by line and word
    by word (the word-level ones found tracebacks the line-level ones did not): a warning
    at worst, never a traceback."""
    text = sample(platform)
    rng = random.Random(17)
    parser = parser_for(platform)
    for round_ in range(60):
        if round_ % 2:
            words = text.split(" ")
            for _ in range(rng.randint(1, 10)):
                i = rng.randrange(len(words))
                choice = rng.random()
                if choice < 0.5:
                    words[i] = rng.choice(_SPLICES)
                elif choice < 0.7:
                    words.insert(i, rng.choice(_SPLICES))
                else:
                    words[i] = words[i][: rng.randrange(len(words[i]) + 1)]
            mangled = " ".join(words)
        else:
            lines = text.splitlines()
            for _ in range(rng.randint(1, 6)):
                if not lines:
                    break
                i = rng.randrange(len(lines))
                if rng.random() < 0.5:
                    del lines[i]
                else:
                    lines.insert(i, lines[rng.randrange(len(lines))])
            mangled = "\n".join(
                lines[: rng.randrange(len(lines) + 1)] if rng.random() < 0.3 else lines
            )
        base = parser.parse(mangled)
        parser.apply_counters(base, mangled)
        check_invariants(base, platform)


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_counter_output_that_is_garbage_changes_nothing(platform):
    parser = parser_for(platform)
    base = parser.parse(sample(platform))
    before = [rule.hits for rule in base.rules]  # nft/iptables counters come with the rules
    parser.apply_counters(base, "\x1b[2J% Invalid input detected at '^' marker.\n" + "y" * 20000)
    assert [rule.hits for rule in base.rules] == before
    assert base.counter_baseline_seconds is None


@pytest.mark.parametrize(
    "line",
    [
        'set security ike policy p pre-shared-key ascii-text "$9$S3CR3T"',  # Junos
        "set authentication-key S3CR3T",
        "set auth-pwd ENC S3CR3T",  # FortiOS SNMPv3
        "set psksecret ENC S3CR3T",
        '/ppp secret add name=u password="S3CR3T x"',  # RouterOS
        "/interface wireless security-profiles add wpa2-pre-shared-key=S3CR3T",
        "/interface l2tp-server server set ipsec-secret=S3CR3T",
        "username u secret 9 S3CR3T",  # IOS
        " key-string 7 S3CR3T",
        "tunnel-group RA ipsec-attributes ikev1 pre-shared-key S3CR3T",  # ASA
        "snmp-server community S3CR3T RO",
    ],
)
def test_redact_covers_every_credential_form_the_parsers_cite(line):
    assert "S3CR3T" not in redact_line(line)
