import subprocess
import sys

import pytest

from agent import config
from agent.core.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "site.toml"
    path.write_text(text)
    return path


def test_valid_config_loads_with_defaults(tmp_path):
    site = config.load(write(tmp_path, 'client = "acme"\nscope = ["198.18.0.0/24"]\n'), {})
    assert site.client == "acme"
    assert site.discover.rate == 3000
    assert site.ad.transport == "ldaps"
    assert site.rotation.parallel == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('client = "a"\nscop = ["198.18.0.0/24"]\n', ":2: unknown key 'scop'"),
        ('client = "a"\n[rotation]\nparallel = "many"\n', ":3: bad value for 'rotation.parallel'"),
        ('client = "a"\nscope = ["198.18.0.0/33"]\n', ":2: bad value for 'scope'"),
        ('client = "a"\nallow_public = "yes please"\n', ":2: bad value for 'allow_public'"),
        ('client = "a"\n[rotation]\nclasses = ["toaster"]\n', "unknown device class toaster"),
        ('client = "a b"\n', ":1: bad value for 'client'"),
        ('client = "acme\\n"\n', ":1: bad value for 'client'"),  # the whole string must match
        ("[rotation]\nparallel = 0\n", ":2: bad value for 'rotation.parallel': must be greater"),
        ("[rotation]\nparallel = 257\n", ":2: bad value for 'rotation.parallel': must be at most"),
        ('[rotation]\nparallel = "4"\n', ":2: bad value for 'rotation.parallel'"),  # TOML is typed
        ("[rotation]\npassword_length = 8\n", "'rotation.password_length': must be at least 12"),
        ('[secrets]\nmount = "/etc"\n', ":2: bad value for 'secrets.mount': must match"),
        ('[ad]\ntransport = "x"\n', ":2: bad value for 'ad.transport': expected one of 'ldaps'"),
        ('[report]\nformats = ["html", "pdf"]\n', "'report.formats': item 2: expected one of"),
        ("[discover]\nnmap = 1\n", ":2: bad value for 'discover.nmap': expected true or false"),
        ('[ad]\nserver = "dc1"\n\nservr = "dc2"\n', ":4: unknown key 'ad.servr'"),
        ('ad = "dc1"\n', ":1: bad value for 'ad': expected a table"),
        ('[lab]\nid = "kt00aa11"\n', "missing key 'lab.technician_netns'"),
        ("client = \n", "not valid TOML"),
    ],
)
def test_invalid_config_names_the_key_and_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        config.load(path, {})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(tmp_path / "absent.toml", {})


def test_environment_overrides_file(tmp_path):
    path = write(tmp_path, 'client = "acme"\nscope = ["198.18.0.0/24"]\n[ad]\nserver = "a"\n')
    env = {
        "KEYTURN_SCOPE": "198.18.1.0/24, 198.18.2.0/24",
        "KEYTURN_AD_SERVER": "b",
        "KEYTURN_ROTATION_PARALLEL": "4",
    }
    site = config.load(path, env)
    assert site.scope == ["198.18.1.0/24", "198.18.2.0/24"]
    assert site.ad.server == "b"
    assert site.rotation.parallel == 4


def test_flags_override_environment(tmp_path):
    site = config.load(write(tmp_path, 'scope = ["198.18.0.0/24"]\n'), {})
    guard = site.scope_guard(scope=["198.18.1.0/24"])
    assert guard.allows("198.18.1.5")
    assert not guard.allows("198.18.0.5")


def test_environment_strings_become_the_fields_types():
    env = {
        "KEYTURN_ROTATION_PARALLEL": "4",
        "KEYTURN_ROTATION_TIMEOUT": "2.5",
        "KEYTURN_ROTATION_PASSWORD_LENGTH": "20",
        "KEYTURN_DISCOVER_NMAP": "false",
        "KEYTURN_AD_KERBEROS": "1",
        "KEYTURN_ALLOW_PUBLIC": "yes",
        "KEYTURN_REPORT_FORMATS": "csv, md",
        "KEYTURN_AD_PASSWORD": "not a key: ignored",
    }
    site = config.load(None, env)
    rotation = site.rotation
    assert (rotation.parallel, rotation.timeout, rotation.password_length) == (4, 2.5, 20)
    assert (site.discover.nmap, site.ad.kerberos, site.allow_public) == (False, True, True)
    assert site.report.formats == ["csv", "md"]
    for word, value in [("true", True), ("0", False), ("Off", False)]:
        assert config.load(None, {"KEYTURN_DISCOVER_NMAP": word}).discover.nmap is value


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("KEYTURN_ROTATION_PARALLEL", "many", "'rotation.parallel': expected an integer"),
        ("KEYTURN_ROTATION_PARALLEL", "0", "'rotation.parallel': must be greater than 0"),
        ("KEYTURN_DISCOVER_NMAP", "maybe", "'discover.nmap': expected true or false"),
    ],
)
def test_a_bad_environment_value_names_its_key(var, value, message):
    with pytest.raises(ConfigError, match=f"^<environment>: bad value for {message}"):
        config.load(None, {var: value})


def test_the_environment_cannot_bind_a_lab():
    site = config.load(None, {"KEYTURN_LAB": "x", "KEYTURN_LAB_ID": "kt00aa11"})
    assert site.lab is None


def test_discover_ad_and_report_start_without_pydantic():
    """pydantic's import alone cost ~0.15 s of every command's start-up; only the rotation
    targets file (rotation/targets.py) still uses it."""
    code = (
        "import sys\n"
        "from agent import config\n"
        "config.load(None, {})\n"
        "import agent.commands.discover, agent.commands.ad, agent.commands.report\n"
        "import agent.ops.discover, agent.ops.directory, agent.ops.report\n"
        "print('pydantic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
