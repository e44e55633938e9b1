"""Incremental evaluation stores exactly what a complete evaluation would, day after day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import orjson
import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

import rules
from models import reads, store
from models.alerting import DeadlineRecord
from models.db import make_engine, session_scope, upgrade
from notifications.deadlines import fingerprint
from providers.generator import Dataset, generate_dataset
from vahti.config import Settings
from vahti.incremental import evaluate_and_store

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
    valid, _ = rules.validate_cases(raw)
    by_ref = {item["case_ref"]: item for item in raw}
    staff, _ = rules.validate_staff(dataset.staff)
    with session_scope(engine) as session:
        store.ensure_provider(session=session, provider_id="p1", name="", now=at)
        pairs = [(case, by_ref[case.case_ref]) for case in valid]
        store.store_cases(session=session, provider_id="p1", items=pairs, received_at=at)
        store.replace_coaches(
            session=session,
            provider_id="p1",
            items=[(c, c.model_dump(mode="json")) for c in staff],
            listed_ids=[c.id for c in staff],
            synced_at=at,
        )


def _stored(session: Session) -> dict[tuple[str, str, str], str]:
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        select(table.c.subject_kind, table.c.subject, table.c.rule, table.c.fingerprint).where(
            table.c.is_current.is_(True)
        )
    )
    return {(k, s, r): fp for k, s, r, fp in rows}


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
