"""Sync against the real reference server on loopback, into SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

import providers.client
from core.config import DatabaseSettings, ProviderSettings, Settings
from models import reads, store
from models.db import make_engine, shared_engine
from models.provider_data import Audit, Case, CaseRevision, Coach, RejectedPayload, SyncRun
from providers.sync import SyncReport, sync_all, sync_provider
from reference.faults import Faults
from reference.generator import generate_dataset
from tests.fixtures.provider_server import TODAY, TOKEN, ReferenceServer, StartServer
from vahti.cli import app

TOKEN_ENV = "VAHTI_TOKEN_DEMO"


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers.client, "BACKOFF_BASE", 0.01)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def make_settings(url: str, *providers_: tuple[str, str], **knobs: object) -> Settings:
    options: dict[str, object] = {"page_size": 50, "max_attempts": 6, "timeout_seconds": 5.0}
    options.update(knobs)
    return Settings(
        database=DatabaseSettings(url=url),
        providers=[
            ProviderSettings.model_validate(
                {"id": pid, "base_url": base, "token_env": TOKEN_ENV, **options}
            )
            for pid, base in providers_
        ],
    )


def counts(url: str, model: type[SQLModel], provider_id: str = "demo") -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            query = select(func.count()).select_from(model)
            query = query.where(model.provider_id == provider_id)  # type: ignore[attr-defined]
            return session.scalar(query) or 0
    finally:
        engine.dispose()


@pytest.fixture
def server(start_reference_server: StartServer) -> ReferenceServer:
    """300 cases, a tenth of them invalid."""
    return start_reference_server(cases=300, invalid_share=0.1)


def test_full_then_incremental_sync_stores_each_change_once(
    server: ReferenceServer, database_url: str
) -> None:
    """A full sync stores valid items and rejects invalid ones; a re-run stores nothing."""
    settings = make_settings(database_url, ("demo", server.url))
    first = sync_provider(settings, "demo")
    assert first.ok, first.errors
    cases = first.collections["cases"]
    assert cases.fetched == 300
    assert cases.pages == 6
    assert cases.stored + cases.unchanged + cases.rejected == cases.fetched
    assert cases.rejected >= 25
    assert counts(database_url, Case) == cases.stored
    assert counts(database_url, CaseRevision) == cases.stored
    assert counts(database_url, RejectedPayload) == first.rejected
    assert (
        counts(database_url, Coach)
        == len(server.dataset.staff)
        == first.collections["staff"].stored
    )
    assert counts(database_url, Audit) == len(server.dataset.audits)

    second = sync_provider(settings, "demo")
    assert second.ok, second.errors
    assert second.stored == 0
    assert 0 < second.collections["cases"].fetched < 300  # resumed from the watermark
    full = sync_provider(settings, "demo", full=True)
    assert (full.stored, full.fetched) == (0, first.fetched)
    assert counts(database_url, RejectedPayload) == first.rejected  # kept once
    assert counts(database_url, SyncRun) == 3

    engine = make_engine(database_url)
    with Session(engine) as session:
        rejected = reads.list_rejected(session=session, provider_id="demo", limit=1000)
        loaded = reads.load_cases(session=session, provider_id="demo", only_open=False)
    engine.dispose()
    assert all(row.errors for row in rejected)
    assert len(loaded) == cases.stored


def test_pages_with_nothing_new_write_nothing(
    start_reference_server: StartServer, database_url: str
) -> None:
    """Re-reading unchanged pages (a full re-sync) opens no write for them: no upsert,
    no revision, no watermark update, no staff write; only the run's own bookkeeping is
    written, with when the staff list was synced."""
    server = start_reference_server(cases=120)
    settings = make_settings(database_url, ("demo", server.url))
    assert sync_provider(settings, "demo").ok
    first_staff, _ = _sync_times(database_url)
    writes: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            writes.append(" ".join(statement.split())[:120])

    engine = shared_engine(database_url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        again = sync_provider(settings, "demo", full=True, engine=engine)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert again.ok, again.errors
    assert again.collections["cases"].pages == 3
    assert again.stored == 0
    assert again.unchanged == again.fetched > 120
    touched = [w for w in writes if re.search(r"provider_case|case_revision|audit|watermark", w)]
    assert touched == []
    assert [w for w in writes if "coach" in w] == []
    assert any("sync_run" in w for w in writes)  # the run is still recorded
    assert again.collections["staff"].unchanged == again.collections["staff"].fetched > 0
    later_staff, later_last = _sync_times(database_url)
    assert first_staff is not None
    assert later_staff is not None
    assert later_staff > first_staff
    assert later_last == later_staff


def _sync_times(database_url: str) -> tuple[datetime | None, datetime | None]:
    """When the demo provider's staff list, and the provider, were last synced."""
    with Session(shared_engine(database_url)) as session:
        found = store.get_provider(session=session, provider_id="demo")
        assert found is not None
        return found.staff_synced_at, found.last_synced_at


def test_touched_cases_are_stored_as_new_revisions(
    server: ReferenceServer, database_url: str
) -> None:
    """After touch(), the next incremental sync stores exactly the changed valid cases."""
    settings = make_settings(database_url, ("demo", server.url))
    first = sync_provider(settings, "demo")
    response = httpx.post(
        f"{server.url}/_admin/touch", params={"share": 0.1, "seed": 3}, headers=server.headers
    )
    response.raise_for_status()
    touched = response.json()["touched"]
    again = sync_provider(settings, "demo")
    assert again.ok, again.errors
    cases = again.collections["cases"]
    assert touched == 30
    assert 0 < cases.stored <= touched
    assert cases.stored + cases.rejected + cases.unchanged == cases.fetched
    assert counts(database_url, CaseRevision) == first.collections["cases"].stored + cases.stored
    assert sync_provider(settings, "demo").stored == 0


class CrashAfter(httpx.BaseTransport):
    """A real HTTP transport that 'crashes' the process after N case pages."""

    def __init__(self, pages: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.pages = pages
        self.seen: list[httpx.URL] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/v1/cases"):
            self.seen.append(request.url)
            if len(self.seen) > self.pages:
                raise SystemExit("simulated crash")
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_a_crashed_sync_resumes_from_the_stored_watermark(
    start_reference_server: StartServer, database_url: str
) -> None:
    """After a crash mid-sync nothing committed is lost and the re-run resumes, not restarts."""
    server = start_reference_server(cases=300)
    settings = make_settings(database_url, ("demo", server.url))
    crash = CrashAfter(pages=3)
    with pytest.raises(SystemExit):
        sync_provider(settings, "demo", transport=crash)
    assert counts(database_url, Case) == 150  # three committed pages
    resume = CrashAfter(pages=1000)
    report = sync_provider(settings, "demo", transport=resume)
    assert report.ok, report.errors
    assert "updated_since" in resume.seen[0].params
    assert report.collections["cases"].fetched < 300
    assert counts(database_url, Case) == len(set(server.dataset.refs)) == 300
    assert counts(database_url, CaseRevision) == 300
    engine = make_engine(database_url)
    with Session(engine) as session:
        runs = session.scalars(select(SyncRun).order_by(SyncRun.id)).all()
        statuses = [run.status for run in runs]
        first_error = runs[0].error or ""
    engine.dispose()
    assert statuses == ["failed", "succeeded"]  # the interrupted run is recorded as such
    assert "interrupted before the sync finished" in first_error


FAULTS = {
    "error_rate": Faults(error_rate=0.3, seed=1),
    "rate_limit": Faults(rate_limit_rate=0.3, retry_after_seconds=0, seed=2),
    "slow": Faults(slow_rate=0.2, slow_seconds=1.5, seed=3),
    "malformed": Faults(malformed_rate=0.3, seed=4),
    "drop": Faults(drop_rate=0.3, seed=5),
    "empty_body": Faults(empty_body_rate=0.3, seed=6),
    "latency": Faults(latency_ms=20, seed=7),
}


@pytest.mark.slow
@pytest.mark.parametrize("knob", sorted(FAULTS))
def test_every_fault_knob_ends_in_stored_data(
    start_reference_server: StartServer, sqlite_url: str, knob: str
) -> None:
    """Transient faults are retried: the sync completes with every item stored."""
    server = start_reference_server(cases=200, faults=FAULTS[knob])
    settings = make_settings(sqlite_url, ("demo", server.url), timeout_seconds=0.5)
    report = sync_provider(settings, "demo")
    assert report.ok, report.errors
    assert counts(sqlite_url, Case) == report.collections["cases"].stored
    assert report.collections["cases"].fetched == 200


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        (Faults(unauthorized=True), "HTTP 401"),
        (Faults(endless_cursor=True), "repeats: paging would loop"),
        (Faults(malformed_rate=1.0), "(in all 6 attempts)"),
        (Faults(error_rate=1.0), "HTTP 50"),
    ],
    ids=["unauthorized", "endless_cursor", "always_malformed", "always_5xx"],
)
def test_permanent_faults_end_in_a_readable_error(
    start_reference_server: StartServer, sqlite_url: str, faults: Faults, expected: str
) -> None:
    """A provider that cannot be read fails with a recorded error naming provider and URL."""
    server = start_reference_server(cases=30, faults=faults)
    settings = make_settings(sqlite_url, ("demo", server.url), max_pages=4)
    report = sync_provider(settings, "demo")
    assert not report.ok
    message = next(e for e in report.errors if expected in e)
    assert re.match(r"(staff|audits|cases): provider 'demo': http://127\.0\.0\.1:", message)
    assert TOKEN not in message
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        run = session.scalars(select(SyncRun)).one()
    engine.dispose()
    assert run.status == "failed"
    assert run.error is not None
    assert expected in run.error


@pytest.fixture
def two_providers(start_reference_server: StartServer) -> ReferenceServer:
    """One server with providers 'north' (valid token) and 'south' (a different token)."""
    datasets = {
        pid: generate_dataset(cases=80, seed=seed, today=TODAY, provider_id=pid)
        for pid, seed in (("north", 1), ("south", 2))
    }
    return start_reference_server(datasets=datasets, tokens={"south": "another-token"})


def test_one_failing_provider_does_not_stop_the_others(
    two_providers: ReferenceServer, database_url: str
) -> None:
    """south refuses the token (403), north completes; each report says what happened."""
    url = two_providers.url
    settings = make_settings(database_url, ("south", f"{url}/south"), ("north", f"{url}/north"))
    south, north = sync_all(settings)
    assert isinstance(south, SyncReport)
    assert north.ok
    assert north.collections["cases"].stored == 80
    assert not south.ok
    assert len(south.errors) == 1  # 401 stops its other collections
    assert "HTTP 403" in south.errors[0]  # a valid token of another provider
    assert counts(database_url, Case, "north") == 80
    assert counts(database_url, Case, "south") == 0


def test_cli_sync_json_and_exit_codes(
    two_providers: ReferenceServer, sqlite_url: str, tmp_path: Path
) -> None:
    """vahti sync prints the JSON contract, exits 1 when a provider failed, 2 on bad config."""
    url = two_providers.url
    config = tmp_path / "vahti.toml"
    config.write_text(
        f'[database]\nurl = "{sqlite_url}"\n'
        f'[[providers]]\nid = "north"\nbase_url = "{url}/north"\ntoken_env = "{TOKEN_ENV}"\n'
        f'[[providers]]\nid = "south"\nbase_url = "{url}/south"\ntoken_env = "{TOKEN_ENV}"\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    upgraded = runner.invoke(app, ["db", "upgrade", "--config", str(config)])
    assert upgraded.exit_code == 0, upgraded.output
    only_north = runner.invoke(
        app, ["sync", "--config", str(config), "--provider", "north", "--format", "json"]
    )
    assert only_north.exit_code == 0, only_north.output
    document = json.loads(only_north.stdout)
    assert document["providers"][0]["id"] == "north"
    assert {"id", "fetched", "stored", "unchanged", "rejected", "errors"} <= set(
        document["providers"][0]
    )
    both = runner.invoke(app, ["sync", "--config", str(config), "--format", "json"])
    assert both.exit_code == 1
    north, south = json.loads(both.stdout)["providers"]
    assert (north["stored"], north["errors"]) == (0, [])
    assert "HTTP 403" in south["errors"][0]
    bad = runner.invoke(app, ["sync", "--config", str(tmp_path / "missing.toml")])
    assert bad.exit_code == 2
    assert "does not exist" in bad.stderr
    rejected = runner.invoke(app, ["db", "rejected", "--config", str(config)])
    assert rejected.exit_code == 0


def test_loaded_cases_match_what_the_server_sent(
    reference_server: ReferenceServer, sqlite_url: str
) -> None:
    """Stored cases load back equal to the server's payloads (raw JSON round trip)."""
    settings = make_settings(sqlite_url, ("demo", reference_server.url))
    assert sync_provider(settings, "demo").ok
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        loaded = {
            c.case_ref: c
            for c in reads.load_cases(session=session, provider_id="demo", only_open=False)
        }
        coaches = reads.load_coaches(session=session, provider_id="demo")
    engine.dispose()
    some = reference_server.dataset.case_dict(0)
    assert loaded[some["case_ref"]].model_dump(mode="json")["days"] == some.get("days", [])
    assert sorted(c.id for c in coaches) == sorted(c["id"] for c in reference_server.dataset.staff)
    assert (
        date.fromisoformat(some["decision_received_on"])
        == loaded[some["case_ref"]].decision_received_on
    )


def hostile_provider(cases: list[object]) -> httpx.MockTransport:
    """A provider serving one page of the given cases, no audits, one coach."""

    def handler(request: httpx.Request) -> httpx.Response:
        items = {
            "/v1/cases": cases,
            "/v1/audits": [],
            "/v1/staff": [{"id": "c-1", "office_id": "A"}],
        }
        body = json.dumps({"items": items[request.url.path], "next_cursor": None})  # ASCII
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    return httpx.MockTransport(handler)


def test_hostile_items_are_rejected_and_the_rest_is_stored(database_url: str) -> None:
    """NUL, lone surrogates, control characters and garbage never block a page."""
    good = {
        "case_ref": "TK-1",
        "service": "job_coaching",
        "office_id": "HEL-1",
        "coach_id": "c-1",
        "decision_received_on": "2025-03-03",
        "case_url": "https://crm.example.fi/cases/TK-1",
        "updated_at": "2025-04-14T15:02:11+03:00",
    }
    hostile: list[object] = [
        good,
        {**good, "case_ref": "TK-6", "case_url": "https://crm.example.fi/\u0007bell"},
        {**good, "case_ref": "TK-2", "office_id": "HEL\x00-1"},
        {**good, "case_ref": "TK-3", "case_url": "https://x.example/\ud800"},
        {**good, "case_ref": "TK-4\x00"},
        "not an object",
        None,
        [1, 2, 3],
        {**good, "case_ref": "TK-5", "updated_at": "2025-13-45T99:00:00+03:00"},
    ]
    settings = make_settings(database_url, ("demo", "http://127.0.0.1:9"))
    report = sync_provider(settings, "demo", transport=hostile_provider(hostile))
    assert report.ok, report.errors
    cases = report.collections["cases"]
    assert (cases.fetched, cases.stored, cases.rejected) == (9, 1, 8)
    engine = make_engine(database_url)
    with Session(engine) as session:
        loaded = reads.load_cases(session=session, provider_id="demo", only_open=False)
        rejected = reads.list_rejected(session=session, provider_id="demo")
    engine.dispose()
    assert [c.case_ref for c in loaded] == ["TK-1"]
    assert loaded[0].case_url == good["case_url"]
    assert len(rejected) == 8
    assert all(row.errors for row in rejected)
    nul = next(row for row in rejected if row.ref == "TK-2")
    assert nul.errors[0].startswith("office_id: must be 1-64 characters")
    assert "\x00" not in nul.errors[0]
    assert "\\u0000" in nul.raw
