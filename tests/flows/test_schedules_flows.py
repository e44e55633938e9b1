"""daily-digest, weekly-report and the watchdog under the Prefect test harness."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flows.compliance import compliance_check
from flows.reports import daily_digest, weekly_report
from flows.watchdog import watchdog
from tests.flows.conftest import NOW, TODAY, Site


def test_reports_and_watchdog_after_a_check(make_site: Callable[..., Site]) -> None:
    """Reports land as HTML files; the watchdog is quiet when fresh and tells ops when stale."""
    site = make_site()
    state = compliance_check(
        config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
    )
    assert state.is_completed(), state.message

    daily = daily_digest(config=str(site.config), today=TODAY.isoformat(), return_state=True)
    assert daily.is_completed(), daily.message
    weekly = weekly_report(config=str(site.config), today=TODAY.isoformat())
    html = Path(str(weekly["report"])).read_text(encoding="utf-8")
    assert "Toimipisteittäin ja säännöittäin" in html  # the quality recipient reads Finnish
    assert "<svg" in html  # the history has today's evaluation

    fresh = watchdog(config=str(site.config), max_age_minutes=60, return_state=True)
    assert fresh.is_completed(), fresh.message

    def to_ops() -> int:
        return sum("ops@example.invalid" in str(m["To"]) for m in site.messages())

    before = to_ops()
    stale = watchdog(config=str(site.config), max_age_minutes=0, return_state=True)
    assert stale.is_failed()
    assert "expected within 0 min" in (stale.message or "")
    assert to_ops() == before + 1
