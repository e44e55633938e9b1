"""Provider faults through the reference server's knobs: stored data or a readable error.

Each fault runs a real sync (``sync_all``) against a real reference server on loopback
with few attempts and recorded, near-zero backoff. A run ends either with every item
stored (the fault was transient and retried) or with the error recorded, readable and
free of the token, in ``SyncReport.errors`` and the ``sync_run`` row.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from models.db import make_engine
from models.provider_data import Audit, Case, Coach, SyncRun
from providers.sync import sync_all
from reference.faults import Faults
from tests.fixtures.provider_server import StartServer
from tests.reliability.conftest import Figures, RetryLog, make_settings, provider_settings

pytestmark = pytest.mark.usefixtures("set_provider_token")


@dataclass(frozen=True)
class Scenario:
    """One fault scenario: the knobs, client settings and the expected outcome."""

    name: str
    faults: str
    knobs: dict[str, object]
    outcome: str  # "data": everything stored; "error": recorded error containing ``expect``
    expect: str = ""


SCENARIOS = [
    Scenario("5xx-burst", "error_rate=0.4,seed=11", {"max_attempts": 8}, "data"),
    Scenario("429-retry-after", "rate_limit_rate=0.4,retry_after_seconds=2,seed=12",
          {"max_attempts": 8}, "data"),
    Scenario("timeout", "slow_rate=0.25,slow_seconds=1.5,seed=13",
          {"max_attempts": 8, "timeout_seconds": 0.4}, "data"),
    Scenario("dropped-mid-page", "drop_rate=0.4,seed=14", {"max_attempts": 8}, "data"),
    Scenario("malformed-json", "malformed_rate=0.4,seed=25", {"max_attempts": 8}, "data"),
    Scenario("empty-body", "empty_body_rate=0.4,seed=16", {"max_attempts": 8}, "data"),
    Scenario("mixed", "error_rate=0.1,rate_limit_rate=0.1,retry_after_seconds=0,drop_rate=0.1,"
          "malformed_rate=0.1,empty_body_rate=0.1,seed=17", {"max_attempts": 10}, "data"),
    Scenario("5xx-always", "error_rate=1.0", {"max_attempts": 3}, "error", "HTTP 50"),
    Scenario("malformed-always", "malformed_rate=1.0", {"max_attempts": 3}, "error",
          "malformed JSON"),
    Scenario("empty-always", "empty_body_rate=1.0", {"max_attempts": 3}, "error", "empty body"),
    Scenario("dropped-always", "drop_rate=1.0", {"max_attempts": 3}, "error", "RemoteProtocol"),
    Scenario("timeout-always", "slow_rate=1.0,slow_seconds=1.0",
          {"max_attempts": 2, "timeout_seconds": 0.3}, "error", "ReadTimeout"),
    Scenario("401", "unauthorized=true", {}, "error", "HTTP 401"),
    Scenario("endless-cursor", "endless_cursor=true", {"max_pages": 3}, "error", "paging"),
]  # fmt: skip


def _count(url: str, model: type, pid: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            query = select(func.count()).select_from(model).where(model.provider_id == pid)  # type: ignore[attr-defined]
            return int(session.scalar(query) or 0)
    finally:
        engine.dispose()


def _runs(url: str, pid: str) -> list[SyncRun]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(SyncRun).where(SyncRun.provider_id == pid)))
    finally:
        engine.dispose()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_fault_ends_in_stored_data_or_a_recorded_readable_error(  # noqa: PLR0917
    scenario: Scenario,
    start_reference_server: StartServer,
    sqlite_url: str,
    retries: RetryLog,
    figures: Figures,
    set_provider_token: str,
) -> None:
    """A faulty provider stores everything or records a readable error; the other completes."""
    healthy = start_reference_server(cases=40, seed=3)
    faulty = start_reference_server(cases=60, seed=5, faults=Faults.parse(scenario.faults))
    settings = make_settings(
        sqlite_url,
        [
            provider_settings("faulty", faulty.url, **scenario.knobs),
            provider_settings("healthy", healthy.url),
        ],
    )
    reports = {r.id: r for r in sync_all(settings)}

    good = reports["healthy"]
    assert good.ok, good.errors
    assert _count(sqlite_url, Case, "healthy") == len(healthy.dataset)
    bad = reports["faulty"]
    runs = _runs(sqlite_url, "faulty")
    assert len(runs) == 1
    assert runs[0].finished_at is not None
    if scenario.outcome == "data":
        assert bad.ok, bad.errors
        assert runs[0].status == "succeeded"
        assert _count(sqlite_url, Case, "faulty") == len(faulty.dataset)
        assert _count(sqlite_url, Audit, "faulty") == len(faulty.dataset.audits)
        assert _count(sqlite_url, Coach, "faulty") == len(faulty.dataset.staff)
        assert retries.delays, "the fault was never hit: the scenario proves nothing"
    else:
        assert not bad.ok
        assert runs[0].status == "failed"
        assert runs[0].error == "\n".join(bad.errors)
        assert any(scenario.expect in e for e in bad.errors), bad.errors
        for error in bad.errors:
            assert "provider 'faulty'" in error
            assert "127.0.0.1" in error
            assert set_provider_token not in error
    figures.add(
        "provider_faults",
        faults_injected=len(retries.delays) + len(bad.errors),
        runs=2,
        records_lost=0,
    )


def test_retry_after_is_honoured_and_capped(
    start_reference_server: StartServer, sqlite_url: str, retries: RetryLog, figures: Figures
) -> None:
    """429 waits exactly Retry-After seconds up to the cap; beyond it the provider counts as
    unavailable at once (recorded, never waited for)."""
    server = start_reference_server(
        cases=10, faults=Faults.parse("rate_limit_rate=0.5,retry_after_seconds=3,seed=2")
    )
    settings = make_settings(
        sqlite_url,
        [provider_settings("p", server.url, max_attempts=10, retry_after_max_seconds=3)],
    )
    (report,) = sync_all(settings)
    assert report.ok, report.errors
    assert retries.delays
    assert set(retries.delays) == {3.0}
    parked = start_reference_server(
        cases=10, faults=Faults.parse("rate_limit_rate=1.0,retry_after_seconds=3600")
    )
    settings = make_settings(sqlite_url, [provider_settings("q", parked.url, max_attempts=10)])
    waited = len(retries.delays)
    (report,) = sync_all(settings)
    assert len(retries.delays) == waited  # nothing slept for
    assert report.errors
    assert all("provider unavailable: Retry-After 3600 s" in e for e in report.errors)
    figures.add("provider_faults", faults_injected=waited + 3, runs=2, records_lost=0)


def test_endless_cursor_keeps_what_it_read_and_stops_at_max_pages(
    start_reference_server: StartServer, sqlite_url: str, retries: RetryLog, figures: Figures
) -> None:
    """A provider whose cursor never ends is stopped at max_pages; the pages read are kept."""
    server = start_reference_server(cases=200, faults=Faults(endless_cursor=True))
    settings = make_settings(
        sqlite_url, [provider_settings("p", server.url, max_pages=3, page_size=20)]
    )
    (report,) = sync_all(settings)
    assert any("max_pages=3" in e for e in report.errors), report.errors
    assert report.collections["cases"].pages == 3
    assert _count(sqlite_url, Case, "p") == 60
    figures.add("provider_faults", faults_injected=1, runs=1, records_lost=0)
