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
