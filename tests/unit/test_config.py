"""Settings: validation errors name the key, VAHTI_* overrides, tokens from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_settings
from core.errors import ConfigError

GOOD = """
[database]
url = "sqlite:///vahti.db"

[[providers]]
id = "demo"
name = "Demo provider"
base_url = "http://127.0.0.1:8765"
token_env = "VAHTI_TOKEN_DEMO"

[[providers]]
id = "north"
base_url = "https://north.example.fi/api/"
token_env = "VAHTI_TOKEN_NORTH"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vahti.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    """The documented example loads; trailing slashes are dropped from base_url."""
    settings = load_settings(write(tmp_path, GOOD), environ={})
    assert [p.id for p in settings.providers] == ["demo", "north"]
    assert settings.provider("north").base_url == "https://north.example.fi/api"
    assert settings.database.url == "sqlite:///vahti.db"


@pytest.mark.parametrize(
    ("bad", "key", "problem"),
    [
        ('base_url = "http://127.0.0.1:8765"', "providers[0].base_url", "must be https://"),
        ('token_env = "VAHTI_TOKEN_DEMO"', "providers[0]", "set token_env"),
        ('id = "demo"', "providers[0].id", "String should match pattern"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, bad: str, key: str, problem: str) -> None:
    """Each invalid value is reported with its key path and the problem."""
    replacement = {
        'base_url = "http://127.0.0.1:8765"': 'base_url = "http://provider.example.fi"',
        'token_env = "VAHTI_TOKEN_DEMO"': "",
        'id = "demo"': 'id = "no spaces allowed"',
    }[bad]
    path = write(tmp_path, GOOD.replace(bad, replacement, 1))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    message = str(caught.value)
    assert f"{key}: " in message
    assert problem in message
    assert str(path) in message


def test_unknown_keys_and_bad_toml_are_refused(tmp_path: Path) -> None:
    """A misspelt key and broken TOML are configuration errors naming the place."""
    with pytest.raises(ConfigError, match=r"database\.ulr: Extra inputs are not permitted"):
        load_settings(write(tmp_path, '[database]\nulr = "x"\n'), environ={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[database\n"), environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_environment_overrides_tables_and_providers(tmp_path: Path) -> None:
    """VAHTI_SECTION__KEY and VAHTI_PROVIDERS__<ID>__KEY override the file."""
    env = {
        "VAHTI_DATABASE__URL": "postgresql://vahti@db.example/vahti",
        "VAHTI_PROVIDERS__NORTH__PAGE_SIZE": "250",
        "VAHTI_PROVIDERS__DEMO__VERIFY_TLS": "false",
        "VAHTI_ALERTS__SEND_WINDOW_START": "09:00",
        "VAHTI_TOKEN_DEMO": "not-a-table-override",
    }
    settings = load_settings(write(tmp_path, GOOD), environ=env)
    assert settings.database.url == "postgresql+psycopg://vahti@db.example/vahti"
    assert settings.provider("north").page_size == 250
    assert settings.provider("demo").verify_tls is False
    assert settings.alerts.send_window_start == "09:00"


def test_environment_override_errors_name_the_variable(tmp_path: Path) -> None:
    """An override for an unknown provider or a bad value names the variable or key."""
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError, match="VAHTI_PROVIDERS__SOUTH__PAGE_SIZE: no entry"):
        load_settings(path, environ={"VAHTI_PROVIDERS__SOUTH__PAGE_SIZE": "1"})
    with pytest.raises(ConfigError, match=r"providers\[1\]\.page_size: "):
        load_settings(path, environ={"VAHTI_PROVIDERS__NORTH__PAGE_SIZE": "5000"})


def test_tokens_come_from_the_environment(tmp_path: Path) -> None:
    """The token is read from token_env; missing or placeholder tokens are refused."""
    demo = load_settings(write(tmp_path, GOOD), environ={}).provider("demo")
    assert demo.token({"VAHTI_TOKEN_DEMO": "real-value"}) == "real-value"
    with pytest.raises(ConfigError, match="VAHTI_TOKEN_DEMO is not set"):
        demo.token({})
    with pytest.raises(ConfigError, match="placeholder"):
        demo.token({"VAHTI_TOKEN_DEMO": "changeme"})


def test_unknown_provider_lists_the_configured_ones(tmp_path: Path) -> None:
    """Asking for a provider that is not configured names the ones that are."""
    settings = load_settings(write(tmp_path, GOOD), environ={})
    with pytest.raises(ConfigError, match=r"unknown provider 'south' \(configured: demo, north\)"):
        settings.provider("south")


def test_duplicate_provider_ids_are_refused(tmp_path: Path) -> None:
    """Two providers with one id are a configuration error."""
    text = GOOD.replace('id = "north"', 'id = "demo"')
    with pytest.raises(ConfigError, match="provider id 'demo' appears twice"):
        load_settings(write(tmp_path, text), environ={})
