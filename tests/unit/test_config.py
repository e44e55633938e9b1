"""Settings: validation errors name the key, VAHTI_* overrides, tokens from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import config_path, load_settings
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


PROVIDERS = """
[[providers]]
id = "good"
base_url = "https://good.example.fi"
token_env = "VAHTI_TOKEN_GOOD"
case_link_origins = ["https://CRM.good.example.fi:443", "https://crm2.good.example.fi:8443"]

[[providers]]
id = "evil"
base_url = "https://evil.example.fi"
token_env = "VAHTI_TOKEN_EVIL"
"""


def test_coach_recipients_are_keyed_by_provider(tmp_path: Path) -> None:
    """[recipients.coaches.PROVIDER."COACH"] loads; origins are normalised."""
    text = (
        PROVIDERS
        + """
[recipients.coaches.good."c-001"]
urls = ["mailto://a.example.fi?to=c1@example.fi"]
[recipients.coaches.evil."c-001"]
urls = ["mailto://a.example.fi?to=other@example.fi"]
"""
    )
    settings = load_settings(write(tmp_path, text), environ={})
    assert sorted(settings.recipients.coaches) == ["evil", "good"]
    assert settings.recipients.coaches["good"]["c-001"].urls != (
        settings.recipients.coaches["evil"]["c-001"].urls
    )
    assert settings.provider("good").case_link_origins == [
        "https://crm.good.example.fi",
        "https://crm2.good.example.fi:8443",
    ]
    assert settings.provider("evil").case_link_origins == []


def test_the_flat_coach_form_is_refused_with_its_rewrite(tmp_path: Path) -> None:
    """The old [recipients.coaches."c-001"] names the coach and the new form to write."""
    text = (
        PROVIDERS
        + """
[recipients.coaches."c-001"]
urls = ["mailto://a.example.fi?to=c1@example.fi"]
"""
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ={})
    message = str(caught.value)
    assert "recipients: " in message
    assert "'c-001'" in message
    assert '[recipients.coaches.PROVIDER_ID."COACH"]' in message


def test_coach_recipients_of_an_unknown_provider_are_refused(tmp_path: Path) -> None:
    """A provider id under recipients.coaches must be a configured provider."""
    text = (
        PROVIDERS
        + """
[recipients.coaches.gdoo."c-001"]
urls = ["mailto://a.example.fi?to=c1@example.fi"]
"""
    )
    with pytest.raises(ConfigError, match="no provider with id 'gdoo'"):
        load_settings(write(tmp_path, text), environ={})


@pytest.mark.parametrize(
    "origin",
    [
        "http://crm.example.fi",
        "https://crm.example.fi/cases",
        "https://user@crm.example.fi",
        "https://crm.example.fi?x=1",
        "javascript:alert(1)",
        "https://",
    ],
)
def test_case_link_origins_must_be_https_origins(tmp_path: Path, origin: str) -> None:
    """A case link origin is https://HOST[:PORT] and nothing else."""
    text = PROVIDERS.replace(
        'case_link_origins = ["https://CRM', f'case_link_origins = ["{origin}", "https://CRM'
    )
    with pytest.raises(ConfigError, match="case_link_origins"):
        load_settings(write(tmp_path, text), environ={})


def test_rejected_payload_retention_is_a_setting(tmp_path: Path) -> None:
    """Rejected payloads are kept 90 days unless the database section says otherwise."""
    assert load_settings(write(tmp_path, ""), environ={}).database.rejected_retention_days == 90
    text = "[database]\nrejected_retention_days = 30\n"
    assert load_settings(write(tmp_path, text), environ={}).database.rejected_retention_days == 30
    with pytest.raises(ConfigError, match="rejected_retention_days"):
        load_settings(write(tmp_path, "[database]\nrejected_retention_days = 0\n"), environ={})


def test_fan_out_defaults_to_the_flow_process_and_validates_pool_mode(tmp_path: Path) -> None:
    """Checks stay local unless the settings ask for the pool; a shard has 1..1000 providers."""
    assert load_settings(write(tmp_path, "")).flows.fan_out == "local"
    pooled = load_settings(write(tmp_path, '[flows]\nfan_out = "pool"\nshard_size = 10\n'))
    assert (pooled.flows.fan_out, pooled.flows.shard_size) == ("pool", 10)
    with pytest.raises(ConfigError, match="shard_size"):
        load_settings(write(tmp_path, "[flows]\nshard_size = 0\n"))
    with pytest.raises(ConfigError, match="fan_out"):
        load_settings(write(tmp_path, '[flows]\nfan_out = "threads"\n'))


def test_config_path_prefers_the_parameter_then_the_workers_environment() -> None:
    """A flow's settings: the given path, else VAHTI_CONFIG, else vahti.toml."""
    assert config_path("/srv/a.toml", {"VAHTI_CONFIG": "/etc/b.toml"}) == "/srv/a.toml"
    assert config_path(None, {"VAHTI_CONFIG": "/etc/b.toml"}) == "/etc/b.toml"
    assert config_path(None, {}) == "vahti.toml"
