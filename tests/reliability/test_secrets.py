"""Secrets and privacy: a full run with distinctive secrets, then every output is scanned.

The provider token, an SMTP password inside a ``mailto://`` URL and a webhook token live
only in the environment (the configured secret store). After sync, evaluation, notify
(one receiver fails on purpose, so error paths are exercised too), the weekly report and
a ``compliance-check`` flow run in its own process, none of them may appear in the logs,
stdout/stderr, report files, Prefect's database (flow logs and artifacts), the alert
ledger or any text column of Vahti's database; no identity code may appear in an alert
body, a report or an artifact. TLS verification is on unless explicitly switched off,
and switching it off is logged.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, inspect, select

from contract.hetu import contains_identity_code
from core.config import ProviderSettings, Settings, load_settings
from core.errors import ConfigError
from models.db import make_engine
from notifications.routing import validate_recipients
from notifications.service import notify
from pipeline.reporting import report_step
from providers.client import ProviderClient
from providers.sync import sync_all
from reference.mail import MaildirSink
from tests.fixtures.provider_server import StartServer
from tests.fixtures.smtp import WebhookReceiver
from tests.reliability.checks import BASE_NOW
from tests.reliability.conftest import TOKEN_ENV, Figures, provider_settings
from tests.reliability.processes import run_worker, write_settings
from tests.reliability.test_crash_safety import prefect_env
from tests.reliability.worker import evaluate

PROVIDER_TOKEN = "tok-Zq8xSECRETprov1d3r"
SMTP_PASSWORD = "pw-K7vSECRETsmtpPa55"
HOOK_TOKEN = "hk-M2nSECRETwebh00k"
SECRETS = (PROVIDER_TOKEN, SMTP_PASSWORD, HOOK_TOKEN)


def _db_text(url: str) -> str:
    """Every row of every table of Vahti's database, as text."""
    engine = make_engine(url)
    parts: list[str] = []
    try:
        with engine.connect() as connection:
            metadata = MetaData()
            for name in inspect(connection).get_table_names():
                table = Table(name, metadata, autoload_with=connection)
                parts.extend(str(tuple(row)) for row in connection.execute(select(table)))
    finally:
        engine.dispose()
    return "\n".join(parts)


def _files_text(root: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", errors="replace") for p in root.rglob("*") if p.is_file()
    )


@pytest.mark.slow
def test_full_run_leaks_no_secret_and_no_identity_code(  # noqa: PLR0917
    start_reference_server: StartServer,
    smtp_sink: MaildirSink,
    webhook: WebhookReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    figures: Figures,
) -> None:
    """Secrets stay in the environment; identity codes stay out of alerts, reports, artifacts."""
    caplog.set_level(logging.DEBUG)
    for name, value in ((TOKEN_ENV, PROVIDER_TOKEN), ("SMTP_PASSWORD", SMTP_PASSWORD),
                        ("HOOK_TOKEN", HOOK_TOKEN)):  # fmt: skip
        monkeypatch.setenv(name, value)
    server = start_reference_server(cases=80, seed=9, invalid_share=0.2, token=PROVIDER_TOKEN)
    staff = [str(c["id"]) for c in server.dataset.staff]
    url = f"sqlite:///{tmp_path / 'vahti.db'}"
    coaches = {cid: {"urls": [smtp_sink.url(f"{cid}@example.org")]} for cid in staff}
    coaches[staff[0]] = {  # a mailbox that needs a login: the sink refuses it, an error path
        "urls": [
            (
                f"mailto://vahti:${{SMTP_PASSWORD}}@127.0.0.1:{smtp_sink.port}"
                "?to=c0@example.org&from=vahti@example.org&mode=insecure&cto=1"
            )
        ]
    }
    settings = Settings.model_validate(
        {
            "database": {"url": url},
            "providers": [provider_settings("demo", server.url).model_dump()],
            "reports_dir": str(tmp_path / "reports"),
            "recipients": {
                "coaches": {"demo": coaches},
                "quality": [{"urls": [webhook.url("q/${HOOK_TOKEN}")], "name": "lv"}],
                "operations": [{"urls": [webhook.url("ops/${HOOK_TOKEN}")], "name": "ops"}],
            },
            "alerts": {"retry_base_minutes": 0, "max_attempts_before_operations": 1},
        }
    )
    settings_file = write_settings(settings, tmp_path / "settings.json")
    now = datetime.fromisoformat(BASE_NOW)

    (report,) = sync_all(settings)
    assert report.ok, report.errors
    evaluate(settings, now)
    first = notify(settings, now=now)
    assert first.sent > 0
    assert first.failed > 0
    report_step(str(settings_file.with_suffix(".toml")), now.date().isoformat())
    flow = run_worker(
        settings_file,
        now.isoformat(),
        steps="compliance",
        env={
            TOKEN_ENV: PROVIDER_TOKEN,
            "SMTP_PASSWORD": SMTP_PASSWORD,
            "HOOK_TOKEN": HOOK_TOKEN,
            **prefect_env(tmp_path / "prefect"),
        },
    )
    assert flow.done is not None, flow.stderr[-2000:]

    captured = capsys.readouterr()
    outputs = {
        "logs": caplog.text,
        "stdout/stderr": captured.out + captured.err,
        "flow process output": "\n".join(flow.output) + flow.stderr,
        "reports": _files_text(tmp_path / "reports"),
        "prefect database (flow logs, artifacts)": _files_text(tmp_path / "prefect"),
        "database (ledger, attempts, runs, rejects)": _db_text(url),
        "alert bodies": "\n".join(m.raw.decode("utf-8", "replace") for m in smtp_sink.messages)
        + str([r["json"] for r in webhook.received]),  # the bodies, not the receiver URL
    }
    assert outputs["reports"]
    assert outputs["prefect database (flow logs, artifacts)"]
    for where, content in outputs.items():
        for secret in SECRETS:
            assert secret not in content, f"{secret[:6]}... found in {where}"
    for where in ("alert bodies", "reports", "logs", "stdout/stderr"):
        assert not contains_identity_code(outputs[where]), f"identity code in {where}"
    flow_text = outputs["prefect database (flow logs, artifacts)"]
    assert not contains_identity_code(flow_text), "identity code in Prefect's logs or artifacts"
    figures.add("secrets", runs=3, faults_injected=first.failed, records_lost=0)


def test_tls_verification_is_on_by_default_and_off_only_explicitly_with_a_warning(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """verify_tls defaults on; only an explicit false switches it off, and that is logged."""
    base = {"id": "tls", "base_url": "https://provider.example", "token_env": TOKEN_ENV}
    assert ProviderSettings.model_validate(base).verify_tls is True
    config = tmp_path / "vahti.toml"
    config.write_text(
        '[[providers]]\nid = "tls"\nbase_url = "https://provider.example"\ntoken_env = "T"\n'
    )
    for accident in ("", "maybe", "2"):
        with pytest.raises(ConfigError, match="verify_tls"):
            load_settings(config, environ={"VAHTI_PROVIDERS__TLS__VERIFY_TLS": accident})
    caplog.set_level(logging.WARNING)
    with ProviderClient(ProviderSettings.model_validate(base), token="x"):
        pass
    assert "TLS" not in caplog.text
    off = ProviderSettings.model_validate({**base, "id": "tls-off", "verify_tls": False})
    with ProviderClient(off, token="x") as client:
        assert client._http._transport._pool._ssl_context.verify_mode.name == "CERT_NONE"
    assert "TLS certificate verification is OFF" in caplog.text
    with ProviderClient(ProviderSettings.model_validate(base), token="x") as client:
        assert client._http._transport._pool._ssl_context.verify_mode.name == "CERT_REQUIRED"


def test_apprise_url_with_verify_off_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A recipient URL that switches Apprise's TLS verification off is named in a warning."""
    settings = Settings.model_validate(
        {
            "recipients": {
                "operations": [
                    {"urls": ["json://hooks.example.org/${HOOK}?verify=no"], "name": "ops"}
                ]
            }
        }
    )
    caplog.set_level(logging.WARNING)
    validate_recipients(settings.recipients, environ={"HOOK": "hk-secret-value"})
    assert "TLS certificate verification is OFF" in caplog.text
    assert "hk-secret-value" not in caplog.text
    caplog.clear()
    plain = Settings.model_validate(
        {"recipients": {"operations": [{"urls": ["json://hooks.example.org/x"], "name": "ops"}]}}
    )
    validate_recipients(plain.recipients, environ={})
    assert "TLS" not in caplog.text
