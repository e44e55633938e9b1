"""The HTML report, the deployment table and the watchdog's rule (no Prefect runs)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from deployments.schedules import DEPLOYMENTS, TIMEZONE
from deployments.serve import build
from flows.watchdog import staleness
from notifications.rule_titles import rule_title
from pipeline.report import AcknowledgedRow, HistoryPoint, build_report, chart_bars, render_html
from pipeline.rows import ProvisionalRow
from rules.deadline import Deadline, Status

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 3, 10)


def _deadline(
    subject: str, rule: str, status: Status, office: str = "o-1", coach: str | None = None
) -> Deadline:
    return Deadline(
        subject_kind="case",
        subject=subject,
        rule=rule,
        status=status,
        due_on=date(2026, 3, 2),
        explanation=(
            "trigger: decision_received_on 2026-02-16",
            "event: first_meeting_on not yet recorded",
            "rule pack kela-tk-tv-2025",
        ),
        pack_id="kela-tk-tv-2025",
        office_id=office,
        coach_id=coach,
    )


def test_report_has_every_section_and_no_scripts() -> None:
    """Per-office counts by rule (breached now and met late apart, titles in the reader's
    language with the id), breaches with reasons, acks, provisional values, a chart, A4."""
    deadlines = [
        ("demo", _deadline("TK-1", "START-2W", Status.BREACHED)),
        ("demo", _deadline("TK-2", "START-2W", Status.MET)),
        ("demo", _deadline("TK-3", "WORKPLACE-1M", Status.DUE_SOON, office="o-2")),
        ("demo", _deadline("TK-4", "START-2W", Status.MET_LATE)),
    ]
    data = build_report(
        "weekly",
        TODAY,
        deadlines,
        acknowledged=[AcknowledgedRow("demo", "ack", "TK-9", "START-2W", "client moved", None)],
        provisional=[
            ProvisionalRow("kela-tk-tv-2025", "START-2W.days", 14, True, False, "14 (SEED, low)")
        ],
        history=[HistoryPoint("2026-03-09", 1), HistoryPoint("2026-03-10", 2)],
        language="fi",
    )
    assert data.totals == {"met": 1, "breached": 1, "met_late": 1, "at_risk": 1}
    office = data.offices[0]
    assert (office.office_id, office.breached, office.met_late, office.met) == ("o-1", 1, 1, 1)
    html = render_html(data)
    assert '<html lang="fi">' in html
    assert f'{rule_title("START-2W", "fi")}<span class="id">START-2W</span>' in html
    assert "@page { size: A4;" in html
    for section in ('id="summary"', 'id="history"', 'id="offices"', 'id="acknowledged"'):
        assert section in html
    assert 'id="provisional"' in html
    assert "START-2W.days" in html
    assert "decision_received_on 2026-02-16; first_meeting_on not yet recorded" in html
    assert "client moved" in html
    assert html.count("<rect") == 2
    assert "<script" not in html
    assert "http://" not in html
    assert "https://" not in html


def test_report_breaks_down_per_office_and_coach_with_a_trend_in_the_readers_words() -> None:
    """Offices and coaches with the most to act on first, each office's breaches per week,
    and the report's own words (not only the rule titles) in the reader's language."""
    deadlines = [
        ("demo", _deadline("TK-1", "START-2W", Status.BREACHED, "o-1", "c-1")),
        ("demo", _deadline("TK-2", "START-2W", Status.BREACHED, "o-2", "c-2")),
        ("demo", _deadline("TK-3", "WORKPLACE-1M", Status.BREACHED, "o-2", "c-2")),
        ("demo", _deadline("TK-4", "START-2W", Status.MET_LATE, "o-1", "c-1")),
        ("demo", _deadline("TK-5", "START-2W", Status.DUE_SOON, "o-1", "c-3")),
        ("demo", _deadline("TK-6", "START-2W", Status.MET, "o-1", "c-4")),
    ]
    history = [
        HistoryPoint("2026-W09", 1, (("demo", "o-1", 1),)),
        HistoryPoint("2026-W10", 3, (("demo", "o-1", 1), ("demo", "o-2", 2))),
    ]
    data = build_report("weekly", TODAY, deadlines, history=history, language="sv")
    assert [(o.name, o.breached, o.met_late, o.at_risk) for o in data.office_counts] == [
        ("o-2", 2, 0, 0),
        ("o-1", 1, 1, 1),
    ]
    assert [(c.name, c.breached, c.met_late, c.at_risk) for c in data.coaches] == [
        ("c-2", 2, 0, 0),
        ("c-1", 1, 1, 0),
        ("c-3", 0, 0, 1),
    ]  # c-4 has nothing to act on
    assert data.coaches_total == 3
    assert [(t.office_id, t.counts) for t in data.office_trend] == [
        ("o-2", (0, 2)),
        ("o-1", (1, 1)),
    ]
    html = render_html(data)
    for section in ('id="by-office"', 'id="by-coach"'):
        assert section in html
    assert "Per arbetstränare" in html
    assert "Överskridanden per vecka och verksamhetsställe" in html
    assert "breached now" not in html  # no English words left in a Swedish report


def test_chart_scales_bars_to_the_peak() -> None:
    """The highest day fills the chart; an empty history draws nothing."""
    bars = chart_bars([HistoryPoint("a", 0), HistoryPoint("b", 5), HistoryPoint("c", 10)])
    assert bars[0].height == 0
    assert bars[2].height == 2 * bars[1].height
    assert chart_bars([]) == ()


def test_prefect_yaml_matches_the_served_schedules() -> None:
    """Work-pool deployments and `serve` use the same names, crons, time zone and limit, and
    leave the settings path to each worker (VAHTI_CONFIG)."""
    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text(encoding="utf-8"))
    by_name = {d["name"]: d for d in spec["deployments"]}
    assert set(by_name) == {d.name for d in DEPLOYMENTS}
    for served in DEPLOYMENTS:
        deployed = by_name[served.name]
        assert deployed.get("concurrency_limit") == served.concurrency_limit
        assert "config" not in deployed.get("parameters", {})
        assert deployed["entrypoint"].replace(".py:", ":").replace("/", ".") == served.flow
        crons = [s["cron"] for s in deployed.get("schedules", [])]
        assert crons == ([served.cron] if served.cron else [])
        assert all(s["timezone"] == TIMEZONE for s in deployed.get("schedules", []))


def test_watchdog_staleness_rule() -> None:
    """Fine within the interval, overdue after it, and alarming when nothing ever ran."""
    now = datetime(2026, 3, 10, 10, 45, tzinfo=ZoneInfo("Europe/Helsinki"))
    limit = timedelta(minutes=90)
    assert staleness((now - timedelta(minutes=45)).isoformat(), now, limit) is None
    late = staleness((now - timedelta(minutes=200)).isoformat(), now, limit)
    assert late is not None
    assert "200 min ago" in late
    assert staleness(None, now, limit) == "no compliance-check run has ever completed"


def test_serve_builds_every_deployment_with_limit_one() -> None:
    """`python -m deployments.serve` serves each flow with its cron; only the shards overlap."""
    built = {d.name: d for d in build("/etc/vahti/vahti.toml")}
    assert set(built) == {d.name for d in DEPLOYMENTS}
    for spec in DEPLOYMENTS:
        deployment = built[spec.name]
        assert deployment.concurrency_limit == spec.concurrency_limit
        assert deployment.parameters["config"] == "/etc/vahti/vahti.toml"
        crons = [s.schedule.cron for s in deployment.schedules or []]
        assert crons == ([spec.cron] if spec.cron else [])
    assert [d.name for d in DEPLOYMENTS if d.concurrency_limit != 1] == ["provider-check"]
