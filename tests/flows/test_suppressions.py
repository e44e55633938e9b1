"""Acknowledge, silence and unsilence from the Prefect UI's flows: validated like the CLI,
recorded with who ran them, listed in the weekly report (the Prefect test harness)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from sqlmodel import select

from flows.reports import weekly_report
from flows.suppressions import acknowledge, silence, unsilence
from models.alerting import Acknowledgement
from models.db import make_engine, session_scope
from tests.flows.conftest import Site


def _rows(site: Site) -> list[Acknowledgement]:
    engine = make_engine(site.database_url)
    try:
        with session_scope(engine) as session:
            return list(session.scalars(select(Acknowledgement).order_by(Acknowledgement.id)))
    finally:
        engine.dispose()


def test_acknowledge_silence_and_unsilence_are_recorded_with_who_and_why(
    make_site: Callable[..., Site],
) -> None:
    """Each flow records who, why and until; unsilence revokes; the report lists them."""
    site = make_site()
    config = str(site.config)
    later = date.today() + timedelta(days=10)
    acked = acknowledge(
        subject="TK-1", rule="START-2W", reason="Kela informed", by="lv", config=config,
        return_state=True,
    )  # fmt: skip
    assert acked.is_completed(), acked.message
    quiet = silence(
        subject="TK-2", rule="WORKPLACE-1M", reason="employer closed", until=later, by="lv",
        provider="alpha", config=config, return_state=True,
    )  # fmt: skip
    assert quiet.is_completed(), quiet.message
    ended = unsilence(
        subject="TK-2", rule="WORKPLACE-1M", reason="reopened", by="qa", config=config,
        return_state=True,
    )  # fmt: skip
    assert ended.is_completed(), ended.message
    ack, sil = _rows(site)
    assert (ack.kind, ack.by, ack.reason, ack.until_on, ack.revoked_at) == (
        "ack", "lv", "Kela informed", None, None,
    )  # fmt: skip
    assert (sil.kind, sil.until_on, sil.provider_id, sil.revoked_by) == (
        "silence", later, "alpha", "qa",
    )  # fmt: skip
    assert sil.revoked_at is not None
    assert sil.revoke_reason == "reopened"

    report = weekly_report(config=config, today=date.today().isoformat())
    html = Path(str(report["report"])).read_text(encoding="utf-8")
    assert "Kela informed" in html
    assert "until met" in html
    assert "ended " in html
    assert "by qa: reopened" in html


def test_refused_requests_end_failed_with_the_reason_and_record_nothing(
    make_site: Callable[..., Site],
) -> None:
    """No reason, a past date, nobody named, nothing to unsilence: Failed, nothing stored."""
    site = make_site()
    config = str(site.config)
    past = date.today() - timedelta(days=1)
    refused = [
        acknowledge(subject="TK-1", rule="START-2W", reason=" ", by="lv", config=config,
                    return_state=True),
        silence(subject="TK-1", rule="START-2W", reason="x", until=past, by="lv",
                config=config, return_state=True),
        acknowledge(subject="TK-1", rule="START-2W", reason="x", config=config,
                    return_state=True),
        unsilence(subject="TK-9", rule="START-2W", reason="x", by="lv", config=config,
                  return_state=True),
    ]  # fmt: skip
    messages = [state.message or "" for state in refused]
    assert all(state.is_failed() for state in refused)
    assert "reason must not be empty" in messages[0]
    assert "is in the past" in messages[1]
    assert "give 'by'" in messages[2]
    assert "nothing acknowledged or silenced" in messages[3]
    assert _rows(site) == []
