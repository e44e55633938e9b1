"""compliance-check and adhoc-check against the real reference provider, SQLite and SMTP
(and PostgreSQL where a test says so)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogWorker
from sqlalchemy import func, select, text

from core.errors import StoreError
from flows import compliance, workers
from flows.adhoc import adhoc_check
from flows.compliance import compliance_check
from flows.outcome import run_data
from models.alerting import Alert, DeadlineRecord
from models.db import make_engine
from pipeline import steps as pipeline
from reference.faults import Faults
from reference.generator import generate_dataset
from reference.server import create_app
from reference.server_run import run_in_thread
from tests.fixtures.database import POSTGRES_ENV, postgres_schema_url
from tests.flows.conftest import NOW, TODAY, TOKEN, Site


def _count(url: str, table: type, *where: Any) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            query = select(func.count()).select_from(table).where(*where)
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


def _artifact_keys(flow_run_id: object) -> set[str]:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key for a in artifacts if a.key}


def test_compliance_check_stores_delivers_and_publishes(make_site: Callable[..., Site]) -> None:
    """A clean run completes, stores deadlines, mails quality staff and publishes artifacts."""
    site = make_site()
    state = compliance_check(
        config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
    )
    assert state.is_completed(), state.message
    outcome = state.result()
    assert outcome["ok"] is True
    assert outcome["providers"][0]["fetched"] > 0
    assert outcome["providers"][0]["rejected"] > 0  # the generator's invalid share
    assert outcome["alerts"]["sent"] > 0
    assert outcome["alerts"]["failed"] == 0
    planned = outcome["providers"][0]["alerts_planned"]  # in the check, sent by notify
    sendable = Alert.status != "summarized"  # a first run's old breaches: in its backlog
    assert planned == _count(site.database_url, Alert, sendable)  # a first run: no reminder
    assert _count(site.database_url, DeadlineRecord) > 0
    messages = site.messages()
    assert messages, "no alert reached the loopback SMTP server"
    assert any("quality@example.invalid" in str(m["To"]) for m in messages)
    body = "".join(str(m.get_payload()) for m in messages)
    assert "flow-test-token" not in body
    keys = _artifact_keys(state.state_details.flow_run_id)
    assert {"compliance-summary", "compliance-breached", "compliance-due-soon"} <= keys
    assert "compliance-provisional" in keys
    assert "compliance-rejected" in keys

    again = compliance_check(
        config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
    )
    assert again.is_completed(), again.message
    assert again.result()["alerts"]["sent"] == 0  # nothing is sent twice
    assert again.result()["providers"][0]["alerts_planned"] == 0
    assert len(site.messages()) == len(messages)


def test_one_provider_failing_fails_the_run_but_not_the_others(
    make_site: Callable[..., Site],
) -> None:
    """A provider answering 401 fails the run by name; the other provider is fully checked."""
    site = make_site({"alpha": "FLOW_TEST_TOKEN", "beta": "FLOW_TEST_BAD_TOKEN"})
    state = compliance_check(
        config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
    )
    assert state.is_failed()
    assert "provider 'beta'" in (state.message or "")
    assert "401" in (state.message or "")
    assert "alpha" not in (state.message or "")
    outcome = run_data(state)
    assert outcome is not None
    by_id = {p["id"]: p for p in outcome["providers"]}
    assert by_id["alpha"]["error"] is None
    assert by_id["alpha"]["deadlines"]
    assert by_id["beta"]["deadlines"] == {}
    assert by_id["alpha"]["alerts_planned"] > 0
    assert by_id["beta"]["alerts_planned"] is None  # its stored rows: planned by notify
    assert "not-the-right-token" not in (state.message or "")


def test_a_provider_down_for_a_while_gets_its_check_retried_and_completed(
    make_site: Callable[..., Site],
) -> None:
    """503 on every request of the first attempt: the check task runs again, and completes."""
    dataset = generate_dataset(cases=40, seed=5, today=TODAY, provider_id="gamma")
    down = Faults(unavailable_first=3)  # staff, audits, cases of the first attempt
    with run_in_thread(create_app({"gamma": dataset}, token=TOKEN, faults=down)) as server:
        site = make_site({"gamma": "FLOW_TEST_TOKEN"}, base_url=server.url, retry_delays=[0.2])
        state = compliance_check(
            config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
        )
    assert state.is_completed(), state.message
    outcome = state.result()
    assert outcome["providers"][0]["error"] is None
    assert outcome["providers"][0]["fetched"] > 0
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    check = next(run for run in runs if run.name == "check-gamma")
    assert check.run_count == 2  # failed on the provider's 503s, then retried and completed
    assert _count(site.database_url, DeadlineRecord) > 0


def test_a_permanent_provider_error_is_not_retried(make_site: Callable[..., Site]) -> None:
    """401 is no reason to run the check again: one attempt, a failed provider."""
    site = make_site({"beta": "FLOW_TEST_BAD_TOKEN"}, retry_delays=[0.2])
    state = compliance_check(
        config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
    )
    assert state.is_failed()
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    check = next(run for run in runs if run.name == "check-beta")
    assert check.run_count == 1


def test_a_recipient_that_cannot_load_fails_notify_not_the_checks(
    make_site: Callable[..., Site],
) -> None:
    """The check's planning refuses the recipients and leaves it to notify, which fails the
    run by the recipient (masked) before anything is written: no alert is half planned."""
    site = make_site()
    with site.config.open("a", encoding="utf-8") as config:
        config.write(
            '[[recipients.quality]]\nname = "typo"\nurls = ["mailtoo://x@example.invalid"]\n'
        )
    state = compliance_check(
        config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
    )
    assert state.is_failed()
    outcome = run_data(state)
    assert outcome is not None
    (alpha,) = outcome["providers"]
    assert alpha["error"] is None
    assert alpha["deadlines"]
    assert alpha["alerts_planned"] is None
    assert "notify: ConfigError" in (state.message or "")
    assert "Apprise cannot load this URL" in (state.message or "")
    assert _count(site.database_url, Alert) == 0
    assert not site.messages()


def test_adhoc_dry_run_sends_and_stores_nothing(make_site: Callable[..., Site]) -> None:
    """A dry run shows one case's explained deadlines; no mail, no ledger or history rows."""
    site = make_site()
    pipeline.sync_step(str(site.config), "alpha")
    history_before = _count(site.database_url, DeadlineRecord)
    alerts_before = _count(site.database_url, Alert)
    cases = pipeline.evaluate_step(str(site.config), "alpha", TODAY.isoformat(), store=False)
    case_ref = (cases.breached or cases.due_soon)[0].subject
    result = adhoc_check(
        provider="alpha", case_ref=case_ref, today=TODAY.isoformat(), config=str(site.config)
    )
    assert result["dry_run"] is True
    assert result["deadlines"], "the case's deadlines are shown"
    assert all(row["subject"] == case_ref for row in result["deadlines"])
    assert any(row["explanation"] for row in result["deadlines"])
    assert site.messages() == []
    assert _count(site.database_url, Alert) == alerts_before
    assert _count(site.database_url, DeadlineRecord) == history_before


def test_adhoc_refuses_a_what_if_date_outside_a_dry_run(make_site: Callable[..., Site]) -> None:
    """A real ad-hoc run on another day would write false history: it fails with the reason."""
    site = make_site()
    state = adhoc_check(
        provider="alpha",
        today="2020-01-01",
        dry_run=False,
        config=str(site.config),
        return_state=True,
    )
    assert state.is_failed()
    assert "what-if" in (state.message or "")
    assert site.messages() == []


def _current_rows(url: str) -> list[tuple[object, ...]]:
    engine = make_engine(url)
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    columns = (table.c.provider_id, table.c.subject, table.c.rule, table.c.status, table.c.due_on)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(*columns).where(table.c.is_current)).all()
            return sorted(tuple(row) for row in rows)
    finally:
        engine.dispose()


def _flow_log_lines(flow_run_id: object) -> list[str]:
    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return [log.message for log in logs]


def test_checks_in_worker_processes_store_what_the_flow_process_stores(
    make_site: Callable[..., Site], monkeypatch: pytest.MonkeyPatch
) -> None:
    """provider_processes = 2: the checks run in two workers, their log lines reach the
    task runs, and the stored deadlines equal those of a run in the flow's own process."""
    pools: list[int] = []
    new_pool = workers._new_pool

    def counted(processes: int, *args: object) -> object:
        pools.append(processes)
        return new_pool(processes, *args)

    monkeypatch.setattr(workers, "_new_pool", counted)
    site = make_site({"alpha": "FLOW_TEST_TOKEN", "beta": "FLOW_TEST_TOKEN"})
    text = site.config.read_text(encoding="utf-8")
    site.config.write_text(text + "[flows]\nprovider_processes = 2\n", encoding="utf-8")
    state = compliance_check(
        config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
    )
    assert state.is_completed(), state.message
    assert pools == [2]
    lines = _flow_log_lines(state.state_details.flow_run_id)
    assert any("2 worker process(es)" in line for line in lines)
    for pid in ("alpha", "beta"):  # written in a worker, shown in the task run's logs
        mine = [line for line in lines if line.startswith(f"provider {pid!r}: ")]
        assert len(mine) == 1, mine  # one summary line a provider, nothing per collection
        assert "fetched (cases changed since the start)" in mine[0]

    in_process = site.database_url.replace("vahti.db", "in-process.db")
    site.config.write_text(
        text.replace(site.database_url, in_process) + "[flows]\nprovider_processes = 0\n",
        encoding="utf-8",
    )
    again = compliance_check(
        config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
    )
    assert again.is_completed(), again.message
    assert pools == [2]  # no pool this time
    assert _current_rows(in_process) == _current_rows(site.database_url) != []


@pytest.mark.postgres
@pytest.mark.parametrize("flow_name", ["compliance-check", "adhoc-check"])
def test_a_check_on_postgresql_refreshes_the_planner_statistics(
    make_site: Callable[..., Site], flow_name: str
) -> None:
    """After its checks the flow (and a real ad-hoc check) analyzes the tables they filled
    (the planner's row counts are then real, not PostgreSQL's guesses) and says so in its
    log."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL tests skipped")
    with postgres_schema_url(base) as url:
        site = make_site(database_url=url)
        if flow_name == "compliance-check":
            state = compliance_check(
                config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
            )
        else:
            state = adhoc_check("alpha", dry_run=False, config=str(site.config), return_state=True)
        assert state.is_completed(), state.message
        lines = _flow_log_lines(state.state_details.flow_run_id)
        refreshed = [line for line in lines if line.startswith("database statistics refreshed")]
        assert len(refreshed) == 1, lines
        assert "deadline_record" in refreshed[0]
        stored = _count(url, DeadlineRecord)
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                estimated, analyzed = connection.execute(_PLANNER_VIEW).one()
        finally:
            engine.dispose()
        assert estimated == stored > 0  # ANALYZE counted them: the table is that small
        assert analyzed == 1


def test_statistics_that_cannot_be_refreshed_are_logged_not_fatal(
    make_site: Callable[..., Site], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database that refuses the refresh (faked: it cannot be made to fail between the
    checks and notify) leaves a one-line warning; the run delivers and completes."""

    def refused(config: str) -> list[str]:
        raise StoreError("the database refused: permission denied\nSQL: ANALYZE ...")

    monkeypatch.setattr(compliance, "statistics_step", refused)
    site = make_site()
    state = compliance_check(
        config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
    )
    assert state.is_completed(), state.message
    assert state.result()["alerts"]["sent"] > 0
    lines = _flow_log_lines(state.state_details.flow_run_id)
    warned = [line for line in lines if line.startswith("database statistics not refreshed")]
    assert warned == [
        "database statistics not refreshed: StoreError: the database refused: permission denied"
    ]


_PLANNER_VIEW = text(
    "SELECT c.reltuples, s.analyze_count FROM pg_class c "
    "JOIN pg_stat_user_tables s ON s.relid = c.oid "
    "WHERE s.schemaname = current_schema() AND s.relname = 'deadline_record'"
)


@pytest.mark.slow  # waits out the check's timeout on purpose
@pytest.mark.parametrize("processes", [0, 2], ids=["in-process", "workers"])
def test_a_stuck_provider_is_reported_failed_and_the_others_alerts_go_out(
    make_site: Callable[..., Site], processes: int
) -> None:
    """A provider trickling its cases forever: its check is failed at flows.check_timeout_seconds
    and notify delivers the other provider's alerts (in the flow's process and in workers)."""
    from tests.reliability.hostile_server import hostile_server, trickle  # noqa: PLC0415

    site = make_site({"alpha": "FLOW_TEST_TOKEN"}, retry_delays=[])
    with hostile_server({"/v1/cases": trickle(pause=0.2)}) as (server, _):
        stuck = [
            "[[providers]]", 'id = "stuck"', f'base_url = "{server.url}"',
            'token_env = "FLOW_TEST_TOKEN"', "max_attempts = 1", "request_timeout_seconds = 6",
        ]  # fmt: skip
        text = site.config.read_text(encoding="utf-8").replace(
            "[flows]\n", f"[flows]\ncheck_timeout_seconds = 2\nprovider_processes = {processes}\n"
        )
        site.config.write_text(text + "\n" + "\n".join(stuck) + "\n", encoding="utf-8")
        started = time.monotonic()
        state = compliance_check(
            config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
        )
        elapsed = time.monotonic() - started
    assert state.is_failed()
    assert "provider 'stuck'" in (state.message or "")
    outcome = run_data(state)
    assert outcome is not None
    by_id = {p["id"]: p for p in outcome["providers"]}
    assert by_id["alpha"]["error"] is None
    assert by_id["alpha"]["alerts_planned"] > 0
    expected = "did not finish in time" if processes == 0 else "time limit of 2 s"
    assert expected in (by_id["stuck"]["error"] or ""), by_id["stuck"]
    assert outcome["alerts"]["sent"] > 0  # notify went out for alpha
    assert elapsed < 30
