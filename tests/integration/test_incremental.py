"""Incremental evaluation stores exactly what a complete evaluation would, day after day.

Both ways in: evaluating the stored data, and evaluating each sync page as it is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

import rules
from contract import validate
from core.config import Settings
from models import quiet, reads, store
from models.alerting import DeadlineRecord
from models.db import make_engine, session_scope, shared_engine
from models.deadlines import fingerprint, status_counts
from models.evaluation import open_case_refs
from models.schema import upgrade
from notifications.policy import QUIET_STATUSES
from pipeline import evaluation as incremental
from pipeline.evaluation import ProviderEvaluation, evaluate_and_store
from pipeline.steps import evaluation_mode
from providers.sync import CollectionCounts, sync_provider
from reference.generator import Dataset, generate_dataset
from tests.fixtures.provider_server import StartServer

TODAY = date(2026, 3, 10)


def _settings(**overrides: float) -> Settings:
    return Settings.model_validate({
        "providers": [{
            "id": "p1", "base_url": "https://provider.example.invalid",
            "token_env": "P1_TOKEN", "overrides": overrides,
        }]
    })  # fmt: skip


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _store(engine: Engine, dataset: Dataset, at: datetime) -> None:
    raw = [orjson.loads(dataset.case_bytes(i)) for i in range(len(dataset))]
    valid, _ = validate.validate_cases(raw)
    by_ref = {item["case_ref"]: item for item in raw}
    staff, _ = validate.validate_staff(dataset.staff)
    with session_scope(engine) as session:
        store.ensure_provider(session=session, provider_id="p1", name="", now=at)
        pairs = [(case, by_ref[case.case_ref]) for case in valid]
        store.store_cases(session=session, provider_id="p1", items=pairs, received_at=at)
        change = store.staff_change(
            session=session,
            provider_id="p1",
            items=[(c, c.model_dump(mode="json")) for c in staff],
            listed_ids=[c.id for c in staff],
            synced_at=at,
        )
        store.replace_coaches(session=session, provider_id="p1", change=change)


def _stored(session: Session) -> dict[tuple[str, str, str], str]:
    """Fingerprints of the current deadlines: the single rows' as stored, the quiet sets'
    deadlines' as made from what the set holds (never both for one identity)."""
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        select(table.c.subject_kind, table.c.subject, table.c.rule, table.c.fingerprint).where(
            table.c.is_current.is_(True)
        )
    )
    found = {(k, s, r): fp for k, s, r, fp in rows}
    in_sets = [d for _, d in quiet.current_deadlines(session, provider_id=None, statuses=None)]
    assert all(d.status in QUIET_STATUSES for d in in_sets)
    packed = {(d.subject_kind, d.subject, d.rule): fingerprint(d) for d in in_sets}
    assert len(packed) == len(in_sets)
    assert not packed.keys() & found.keys()
    return found | packed


def _kept_counts_match(session: Session) -> bool:
    """The counts store_deadlines keeps equal a count of the current deadlines."""
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    counted = session.execute(
        select(table.c.provider_id, table.c.status, table.c.pack_id, func.count())
        .where(table.c.is_current)
        .group_by(table.c.provider_id, table.c.status, table.c.pack_id)
    )
    expected: dict[str, dict[tuple[str, str], int]] = {}
    for provider_id, status, pack, n in counted:
        expected.setdefault(provider_id, {})[status, pack] = n
    for provider_id, d in quiet.current_deadlines(session, provider_id=None, statuses=None):
        mine = expected.setdefault(provider_id, {})
        mine[d.status.value, d.pack_id] = mine.get((d.status.value, d.pack_id), 0) + 1
    return status_counts(session=session) == expected


def _expected(session: Session, today: date, settings: Settings) -> dict[tuple[str, str, str], str]:
    cases = reads.load_cases(session=session, provider_id="p1", today=today)
    found = rules.evaluate(
        cases,
        reads.load_audits(session=session, provider_id="p1"),
        reads.load_coaches(session=session, provider_id="p1"),
        None,
        today,
        rules.FinnishCalendar(),
        overrides=dict(settings.provider("p1").overrides) or None,
        provider_id="p1",
    )
    return {(d.subject_kind, d.subject, d.rule): fingerprint(d) for d in found}


def _run(engine: Engine, today: date, settings: Settings) -> tuple[bool, int]:
    outcome = evaluate_and_store(engine=engine, settings=settings, provider_id="p1", today=today)
    with session_scope(engine) as session:
        assert _stored(session) == _expected(session, today, settings)
        assert _kept_counts_match(session)
    return outcome.complete, outcome.cases


def test_incremental_runs_match_complete_evaluations(engine: Engine) -> None:
    """Days later, after changes and closures, the stored rows equal a complete evaluation."""
    dataset = generate_dataset(cases=300, seed=5, today=TODAY)
    settings = _settings()
    _store(engine, dataset, datetime.combine(TODAY, time(6), tzinfo=UTC))
    complete, open_cases = _run(engine, TODAY, settings)
    assert complete
    assert open_cases > 150  # the rest closed: feedback sent long ago

    complete, evaluated = _run(engine, TODAY + timedelta(days=1), settings)
    assert not complete
    assert evaluated < open_cases // 4  # only the cases whose status moves with the date

    moment = datetime.combine(TODAY + timedelta(days=2), time(7), tzinfo=UTC)
    touched = dataset.touch(0.05, 3, moment)
    _store(engine, dataset, moment + timedelta(minutes=1))
    complete, evaluated = _run(engine, TODAY + timedelta(days=2), settings)
    assert not complete
    assert evaluated >= len(set(touched)) - 1  # a touched case may have closed meanwhile

    for days in (3, 9, 40, 95):  # weekends, month ends, closed cases
        assert not _run(engine, TODAY + timedelta(days=days), settings)[0]


def test_a_new_override_or_an_earlier_day_evaluates_everything(engine: Engine) -> None:
    """What due dates depend on besides the cases changed: complete evaluation again."""
    dataset = generate_dataset(cases=120, seed=6, today=TODAY)
    _store(engine, dataset, datetime.combine(TODAY, time(6), tzinfo=UTC))
    assert _run(engine, TODAY, _settings())[0]
    assert not _run(engine, TODAY + timedelta(days=1), _settings())[0]
    assert _run(engine, TODAY + timedelta(days=1), _settings(**{"START-2W.days": 10}))[0]
    assert _run(engine, TODAY, _settings(**{"START-2W.days": 10}))[0]


def test_checks_evaluating_each_page_as_stored_match_complete_evaluations(
    start_reference_server: StartServer, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sync with every page evaluated in its own transaction, day after day, through
    changes, closures and a new override: the same rows as a complete evaluation."""
    server = start_reference_server(cases=400, seed=11, today=TODAY, invalid_share=0.05)
    monkeypatch.setenv("P1_TOKEN", server.token)
    engine = shared_engine(database_url)

    def settings_with(**overrides: float) -> Settings:
        return Settings.model_validate({
            "database": {"url": database_url},
            "providers": [{
                "id": "p1", "base_url": server.url, "token_env": "P1_TOKEN", "page_size": 60,
                "overrides": overrides,
            }],
        })  # fmt: skip

    read_back: list[str] = []

    def load_cases(**kwargs: object) -> list[object]:
        read_back.extend(kwargs["refs"])  # type: ignore[arg-type]
        return reads.load_cases(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(incremental, "load_cases", load_cases)

    def check(today: date, settings: Settings) -> tuple[bool, int, CollectionCounts]:
        read_back.clear()
        evaluation = ProviderEvaluation(
            engine=engine, settings=settings, provider_id="p1", today=today
        )
        report = sync_provider(settings, "p1", engine=engine, observer=evaluation)
        assert report.ok, report.errors
        outcome = evaluation.finish()
        with session_scope(engine) as session:
            assert _stored(session) == _expected(session, today, settings)
            assert _kept_counts_match(session)
        return outcome.complete, outcome.cases, report.collections["cases"]

    settings = settings_with()
    complete, evaluated, cases = check(TODAY, settings)
    assert complete
    assert cases.rejected > 0  # 5 % invalid on purpose
    assert cases.stored + cases.rejected == 400
    with session_scope(engine) as session:
        assert evaluated == len(open_case_refs(session=session, provider_id="p1", today=TODAY))
    assert read_back == []  # every case evaluated once, as its page arrived

    complete, evaluated, cases = check(TODAY + timedelta(days=1), settings)
    assert (complete, cases.stored) == (False, 0)
    assert 0 < evaluated < 100  # only the cases whose status moves with the date
    assert len(read_back) == evaluated

    for day, share in ((2, 0.05), (9, 0.02), (40, 0.1)):
        moment = datetime.combine(TODAY + timedelta(days=day), time(7), tzinfo=UTC)
        server.dataset.touch(share, day, moment)
        complete, evaluated, cases = check(TODAY + timedelta(days=day), settings)
        assert not complete
        assert cases.stored > 0
        assert len(read_back) < evaluated  # the touched ones came with their pages

    moment = datetime.combine(TODAY + timedelta(days=41), time(7), tzinfo=UTC)
    server.dataset.touch(0.05, 41, moment)
    complete, evaluated, _ = check(
        TODAY + timedelta(days=41), settings_with(**{"START-2W.days": 10})
    )
    assert complete  # a new override: every open case, the pages' and the stored ones
    assert evaluated > 150


def test_cases_stored_without_a_pre_evaluation_are_evaluated_in_the_transaction(
    engine: Engine, database_url: str
) -> None:
    """A page's cases that page_received did not evaluate (another writer changed them
    between the read and the page's transaction) are evaluated when stored; the ones it
    did are stored as evaluated. Either way the rows equal a complete evaluation's."""
    settings = Settings.model_validate(
        {**_settings().model_dump(mode="json"), "database": {"url": database_url}}
    )
    dataset = generate_dataset(cases=40, seed=11, today=TODAY)
    at = datetime.combine(TODAY, time(6), tzinfo=UTC)
    _store(engine, dataset, at)
    with session_scope(engine) as session:
        cases = reads.load_cases(session=session, provider_id="p1", today=TODAY)
    evaluation = ProviderEvaluation(
        engine=shared_engine(database_url), settings=settings, provider_id="p1", today=TODAY
    )
    evaluation.begin()
    half = len(cases) // 2
    received = evaluation.page_received([(case, None) for case in cases[:half]])
    with session_scope(engine) as session:
        evaluation.cases_stored(session, cases, received)
    evaluation.finish()
    with session_scope(engine) as session:
        assert _stored(session) == _expected(session, TODAY, settings)
        assert len({s for _, s, _ in _stored(session)} & {c.case_ref for c in cases}) == len(cases)


def test_an_upgrade_evaluates_everything_and_says_why(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New rule or validation code: the next check is complete, "rules or packs changed"."""
    dataset = generate_dataset(cases=60, seed=8, today=TODAY)
    _store(engine, dataset, datetime.combine(TODAY, time(6), tzinfo=UTC))

    def outcome(day: date, settings: Settings | None = None) -> incremental.Outcome:
        return evaluate_and_store(
            engine=engine, settings=settings or _settings(), provider_id="p1", today=day
        )

    first = outcome(TODAY)
    assert (first.complete, first.why) == (True, incremental.FIRST)
    later = outcome(TODAY + timedelta(days=1))
    assert (later.complete, evaluation_mode(later)) == (False, "incremental")
    monkeypatch.setattr(incremental, "_rules_digest", lambda: "the next Vahti")
    upgraded = outcome(TODAY + timedelta(days=2))
    assert (upgraded.complete, upgraded.why) == (True, incremental.RULES_CHANGED)
    assert evaluation_mode(upgraded) == "complete: rules or packs changed"
    assert not outcome(TODAY + timedelta(days=2)).complete
    override = outcome(TODAY + timedelta(days=2), _settings(**{"START-2W.days": 10}))
    assert override.why == incremental.PROVIDER_CHANGED
    earlier = outcome(TODAY + timedelta(days=1), _settings(**{"START-2W.days": 10}))
    assert earlier.why == incremental.EARLIER_DAY


def test_the_engine_key_covers_validation_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """A change in contract/*.py (what is valid) changes the engine digest like rules/*.py."""
    before = incremental._rules_digest.__wrapped__()
    original = Path.read_bytes

    def changed(path: Path) -> bytes:
        data = original(path)
        return (
            data + b"#" if path.name == "validate.py" and path.parent.name == "contract" else data
        )

    monkeypatch.setattr(Path, "read_bytes", changed)
    assert incremental._rules_digest.__wrapped__() != before


def _team_status(session: Session) -> str:
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        select(table.c.status).where(
            table.c.is_current.is_(True), table.c.rule == "COACH-TEAM-MIN-3"
        )
    ).all()
    quiet_rows = [
        d.status.value
        for _, d in quiet.current_deadlines(session, provider_id=None, statuses=None)
        if d.rule == "COACH-TEAM-MIN-3"
    ]
    (status,) = [row[0] for row in rows] + quiet_rows
    return str(status)


def test_the_team_rule_tells_no_staff_data_from_an_empty_list(engine: Engine) -> None:
    """Decision 8: never read -> unconfigured; read and empty -> breached (0 of 3)."""
    at = datetime.combine(TODAY, time(6), tzinfo=UTC)
    with session_scope(engine) as session:
        store.ensure_provider(session=session, provider_id="p1", name="", now=at)
    evaluate_and_store(engine=engine, settings=_settings(), provider_id="p1", today=TODAY)
    with session_scope(engine) as session:
        assert _team_status(session) == "unconfigured"
        store.mark_synced(session=session, provider_id="p1", at=at, staff=True)
    evaluate_and_store(engine=engine, settings=_settings(), provider_id="p1", today=TODAY)
    with session_scope(engine) as session:
        assert _team_status(session) == "breached"
