"""Identifiers are data, never syntax: the command builders quote nothing and refuse what
would not stay one token; passwords pass the platform's policy with a one-line reason.

Pure logic (no device): the end-to-end injection cases run on every platform in
test_rotation_conformance.py.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.core.identifiers import control_characters
from agent.core.secret import Secret
from rotation.contract import DriverEnv, Target, UnsafeValue
from rotation.drivers import DRIVERS, driver_for
from rotation.drivers.cisco import ENABLE_ACCOUNT, CiscoDriver
from rotation.drivers.ssh import SshDriver, build_command
from rotation.policy import PasswordPolicy

SSH_PLATFORMS = [p for p in DRIVERS if issubclass(DRIVERS[p], SshDriver)]
ENV = DriverEnv(stored=lambda user, version: None, timeout=1)
# Text a hostile CSV or targets file may hold: any code point, the dangerous ones often.
hostile = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from("\n\r\t\x00\x03\x1a\x1b ;|&$`'\"\\?!#{}[]=,"),
        st.sampled_from(string.ascii_letters + string.digits + "._@-"),
    ),
    max_size=40,
)


def _one_token(value: str) -> bool:
    return bool(value) and value.split() == [value] and not control_characters(value)


@settings(
    derandomize=True, max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None
)
@given(platform=st.sampled_from(SSH_PLATFORMS), name=hostile, secret=hostile)
def test_builders_refuse_or_keep_each_value_one_token(platform, name, secret):
    driver = driver_for(platform)
    try:
        command = build_command(
            "username {name} secret {secret}",
            driver.username_grammar,
            driver.policy,
            name=name,
            secret=Secret(secret),
        )
    except UnsafeValue as exc:
        message = str(exc)
        assert "\n" not in message and not control_characters(message)
        return
    assert command.split() == ["username", name, "secret", secret]
    assert _one_token(name) and _one_token(secret)
    assert not set(secret) & set(driver.policy.specials)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(name=hostile, secret=hostile)
def test_cisco_change_command_is_one_line_or_refused(name, secret):
    """The real builder of the Cisco family, fed a name that skipped check_target."""
    driver = CiscoDriver(Target("192.0.2.1", "cisco_ios", name), ENV)
    driver._account_line = "username x privilege 15 secret 9 $9$abc"
    try:
        [command] = driver.change_commands(Secret(secret))
    except UnsafeValue:
        return
    assert "\n" not in command and "\r" not in command
    # the enable pseudo-account's change is `enable secret NEW`; any other name is the account's
    expected_name = "secret" if name == ENABLE_ACCOUNT else name
    assert command.split()[1] == expected_name and command.split()[-1] == secret


@pytest.mark.parametrize("platform", list(DRIVERS))
@pytest.mark.parametrize(
    "username",
    [
        "itadmin;touch PWNED;true",
        "admin\nconfigure terminal\nusername backdoor privilege 15 secret 0 x\nwrite memory",
        "admin\x1b[2J",
        "admin\x00",
        "",
        "a" * 65,
    ],
)
def test_hostile_usernames_fail_check_target_on_every_platform(platform, username):
    with pytest.raises(UnsafeValue) as caught:
        driver_for(platform).check_target(Target("192.0.2.1", platform, username))
    assert "\n" not in str(caught.value)


def test_a_platform_narrows_the_grammar():
    driver_for("cisco_ios").check_target(Target("192.0.2.1", "cisco_ios", "Admin.Ops"))
    with pytest.raises(UnsafeValue, match="not a plain account name"):
        driver_for("linux").check_target(Target("192.0.2.1", "linux", "Admin.Ops"))
    with pytest.raises(UnsafeValue, match="login"):
        driver_for("cisco_ios").check_target(
            Target("192.0.2.1", "cisco_ios", "enable", login="admin\nwrite memory")
        )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Abcdefgh1234\x1a", "control characters (U+001A)"),
        ("Abcdefgh1234\x03", "control characters (U+0003)"),
        ("Abcd\tefgh1234", "control characters (U+0009)"),
        ("Abcdefgh1234?", "'?', which this platform's CLI parses"),
        ("Abcd efgh1234", "white space"),
        ("", "empty"),
        ("A", "has 1 characters; this platform takes 12-64"),
        ("Abcdefgh1234é", "outside ASCII"),
        ("Abcdefgh1234^", "characters other than letters, digits"),
    ],
)
def test_policy_refuses_with_a_one_line_reason(value, reason):
    policy = PasswordPolicy()
    refusal = policy.refusal(Secret(value))
    assert refusal is not None and reason in refusal and "\n" not in refusal
    assert not policy.accepts(Secret(value))
    assert not value or value not in refusal  # the reason never repeats the password


def test_platform_specials_differ():
    routeros, linux = driver_for("mikrotik_routeros").policy, driver_for("linux").policy
    assert "=" in (routeros.unsafe(Secret("Abcdefgh=1234")) or "")
    # A Linux password prompt reads one line: only control characters (and white space,
    # never generated) are refused there.
    assert linux.unsafe(Secret("Abcd?ef;gh$1é")) is None
    assert linux.unsafe(Secret("Abcdefgh\n1234")) is not None


@settings(derandomize=True, max_examples=50, deadline=None)
@given(platform=st.sampled_from(list(DRIVERS)), length=st.integers(1, 300))
def test_generated_passwords_pass_their_own_policy(platform, length):
    policy = driver_for(platform).policy
    assert policy.refusal(policy.generate(length)) is None
