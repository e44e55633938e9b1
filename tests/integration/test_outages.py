"""Provider outages reach operations once, a reminder a day while they last, and a
resolved note when they pass (a real SQLite ledger, SMTP sink and webhook receiver)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.config import Settings
from models.db import make_engine
from models.schema import upgrade
from notifications.outages import tell_outages

NOW = datetime(2026, 4, 7, 9, 0, tzinfo=UTC)  # 12:00 Europe/Helsinki, a Tuesday
ERROR = "check PermanentProviderError: provider 'p1': http://127.0.0.1/p1 -> HTTP 401"


def _settings(url: str, smtp_sink, webhook) -> Settings:
    ops = [smtp_sink.url("ops@example.org"), webhook.url("ops")]
    return Settings.model_validate(
        {
            "database": {"url": url},
            "recipients": {"operations": [{"urls": ops, "language": "en", "name": "ops"}]},
        }
    )


def _texts(smtp_sink) -> list[str]:
    return [m.text() for m in smtp_sink.messages]


def test_an_outage_is_told_once_reminded_daily_and_resolved(sqlite_url, smtp_sink, webhook):
    """First failure: one alert (provider, error class, since when) typed as a failure;
    the next hourly check adds nothing; the next day a reminder; then one resolved note."""
    upgrade(make_engine(sqlite_url))
    settings = _settings(sqlite_url, smtp_sink, webhook)
    first = tell_outages(settings, now=NOW, failed={"p1": ERROR}, answering=["p2"])
    assert first.planned == 2  # one row per operations URL
    (mail,) = _texts(smtp_sink)
    assert "provider 'p1' failing since 2026-04-07 12:00" in mail
    assert "PermanentProviderError" in mail
    assert [hook["json"]["type"] for hook in webhook.received] == ["failure"]

    later = tell_outages(
        settings, now=NOW + timedelta(hours=1), failed={"p1": ERROR}, answering=["p2"]
    )
    assert later.planned == 0
    assert len(smtp_sink.messages) == 1

    tell_outages(settings, now=NOW + timedelta(days=1), failed={"p1": ERROR}, answering=[])
    assert len(smtp_sink.messages) == 2
    assert "still failing since 2026-04-07 12:00" in _texts(smtp_sink)[1]

    back = NOW + timedelta(days=1, hours=2)
    tell_outages(settings, now=back, failed={}, answering=["p1", "p2"])
    assert len(smtp_sink.messages) == 3
    assert (
        "answers again: failing from 2026-04-07 12:00 until 2026-04-08 14:00"
        in (_texts(smtp_sink)[2])
    )
    assert webhook.received[-1]["json"]["type"] == "success"
    quiet = tell_outages(settings, now=back + timedelta(hours=1), failed={}, answering=["p1"])
    assert quiet.planned == 0

    again = back + timedelta(hours=3)
    tell_outages(settings, now=again, failed={"p1": ERROR}, answering=[])
    assert "provider 'p1' failing since 2026-04-08 17:00" in _texts(smtp_sink)[3]  # a new one
