"""The statements a run repeats for every provider use an index, never a table scan.

SQLite uses a partial index only when the query repeats the index's WHERE term the way
the index was written, which a harmless-looking change to a query or a model breaks
silently (the run just gets slower with every stored row). Every statement on the
deadline rows, cases and ledger that one check and one notification run issue is
captured and explained here.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from contract import validate
from core.config import Settings
from models import ledger, store
from models.db import session_scope, shared_engine
from models.deadlines import store_deadlines
from models.schema import upgrade
from notifications.service import notify
from pipeline.evaluation import evaluate_and_store
from pipeline.summaries import overview, summarize_stored
from reference.generator import generate_dataset
from rules.deadline import Deadline, Status

TODAY = date(2026, 4, 14)
NOW = datetime(2026, 4, 14, 5, tzinfo=UTC)
HOT_TABLES = ("deadline_record", "quiet_deadline_set", "provider_case", "case_recheck", "alert")


@pytest.fixture
def statements(sqlite_url: str) -> Iterator[list[tuple[str, object]]]:
    """Every statement the engine of ``sqlite_url`` runs while the test body runs."""
    seen: list[tuple[str, object]] = []
    engine = shared_engine(sqlite_url)

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: PLR0917
        if not executemany:
            seen.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)
    del engine


def _deadlines(n: int) -> list[Deadline]:
    statuses = [Status.OPEN, Status.DUE_SOON, Status.BREACHED, Status.MET, Status.OK]
    return [
        Deadline(
            subject_kind="case",
            subject=f"TK-{i}",
            rule="START-2W",
            status=statuses[i % len(statuses)],
            due_on=TODAY + timedelta(days=i % 30 - 10),
            coach_id="c1",
            explanation=("trigger: decision_received_on 2026-03-20",),
        )
        for i in range(n)
    ]


def test_repeated_statements_use_indexes(sqlite_url, smtp_sink, statements) -> None:
    """No statement of a check or a notification run scans a hot table."""
    settings = Settings.model_validate(
        {
            "database": {"url": sqlite_url},
            "providers": [
                {"id": "p2", "base_url": "https://p2.example.invalid", "token_env": "P2_TOKEN"}
            ],
            "recipients": {"quality": [{"urls": [smtp_sink.url("q@example.org")], "name": "q"}]},
        }
    )
    engine = shared_engine(sqlite_url)
    dataset = generate_dataset(cases=120, seed=3, today=TODAY)
    raw = [orjson.loads(dataset.case_bytes(i)) for i in range(len(dataset))]
    valid, _ = validate.validate_cases(raw)
    by_ref = {item["case_ref"]: item for item in raw}
    with session_scope(engine) as session:
        store.ensure_provider(session=session, provider_id="p2", name="", now=NOW)
        pairs = [(case, by_ref[case.case_ref]) for case in valid]
        store.store_cases(session=session, provider_id="p2", items=pairs, received_at=NOW)
    for day in range(3):
        evaluate_and_store(
            engine=engine, settings=settings, provider_id="p2", today=TODAY + timedelta(days=day)
        )
    for day in range(2):
        with session_scope(engine) as session:
            store_deadlines(
                session=session,
                provider_id="p1",
                deadlines=_deadlines(300),
                evaluated_on=TODAY + timedelta(days=day),
                retire_missing=True,
                cases={f"TK-{i}" for i in range(300)},
                others=False,
            )
            summarize_stored(session=session, provider_id="p1", today=TODAY)
            overview(session=session, provider_ids=["p1"], today=TODAY, limit=50)
        notify(settings, now=datetime(2026, 4, 14 + day, 7, tzinfo=UTC))  # 10:00 in Helsinki
    database = sqlite_url.removeprefix("sqlite:///")
    connection = sqlite3.connect(database)
    scans = []
    for sql, parameters in statements:
        if not re.match(r"\s*(SELECT|UPDATE|DELETE)", sql) or not any(t in sql for t in HOT_TABLES):
            continue
        plan = connection.execute(f"EXPLAIN QUERY PLAN {sql}", parameters or ()).fetchall()
        for row in plan:
            detail = row[-1]
            if any(f"SCAN {t}" == detail.strip() for t in HOT_TABLES):
                scans.append((detail, sql[:200]))
    unplanned = [  # notify's read of the unplanned rows: the partial index of just those
        [row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", parameters or ())]
        for sql, parameters in statements
        if "FROM deadline_record" in sql and "planned = 0" in sql
    ]
    connection.close()
    assert statements, "statements were captured"
    assert scans == []
    assert unplanned, "notify read the unplanned rows"
    assert all(any("ix_deadline_record_unplanned" in step for step in plan) for plan in unplanned)


def test_one_providers_notify_reads_that_providers_rows_only(
    sqlite_url, smtp_sink, statements
) -> None:
    """A notification run for one provider (the ad-hoc check's) finds that provider's
    window rows and undelivered alerts through the provider's own index entries, not
    through the national status indexes, which hold every provider's."""
    settings = Settings.model_validate(
        {
            "database": {"url": sqlite_url},
            "recipients": {"quality": [{"urls": [smtp_sink.url("q@example.org")], "name": "q"}]},
        }
    )
    engine = shared_engine(sqlite_url)
    for provider in ("p1", "p2"):
        with session_scope(engine) as session:
            store_deadlines(
                session=session, provider_id=provider, deadlines=_deadlines(300), evaluated_on=TODAY
            )
    statements.clear()
    report = notify(settings, now=NOW, provider_id="p1", dry_run=True)
    assert report.planned > 0
    connection = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    steps = [
        (row[-1], sql[:200])
        for sql, parameters in statements
        if re.match(r"\s*SELECT", sql) and "provider_id = ?" in sql
        for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", parameters or ())
    ]
    connection.close()
    national = ("ix_deadline_record_current_due", "ix_alert_status_next", "SCAN deadline_record")
    assert steps, "the run read one provider's deadline rows and ledger entries"
    assert [s for s in steps if any(n in s[0] for n in national) or s[0] == "SCAN alert"] == []
    assert any("ix_alert_provider_status (provider_id=? AND status=?)" in s for s, _ in steps)
    window = "ix_deadline_record_current_provider_due (provider_id=? AND due_on>? AND due_on<?)"
    assert any(window in s for s, _ in steps), "the warning window is a range of its own index"


def test_updates_of_named_alerts_find_them_by_id_or_key(sqlite_url, smtp_sink, statements) -> None:
    """Claiming, recording and cancelling name their alerts by id or dedup key and find
    them through that index, not through the status index, which holds every target's
    and provider's undelivered alerts."""
    settings = Settings.model_validate(
        {
            "database": {"url": sqlite_url},
            "recipients": {"quality": [{"urls": [smtp_sink.url("q@example.org")], "name": "q"}]},
        }
    )
    engine = shared_engine(sqlite_url)
    upgrade(engine)
    with session_scope(engine) as session:
        store_deadlines(
            session=session, provider_id="p1", deadlines=_deadlines(600), evaluated_on=TODAY
        )
    statements.clear()
    report = notify(settings, now=NOW)
    assert report.sent > 100
    with session_scope(engine) as session:
        ledger.cancel(
            session=session,
            keys=[f"p1|case|TK-{n}|START-2W|-|warn-7" for n in range(500)],
            reason="x",
            now=NOW,
        )
    connection = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    plans = {
        sql[:60]: [
            row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", parameters or ())
        ]
        for sql, parameters in statements
        if sql.lstrip().startswith("UPDATE alert")
        and ("alert.id IN" in sql or "dedup_key IN" in sql)
    }
    connection.close()
    assert len(plans) >= 3, "claim, record and cancel ran"
    assert [plan for plan in plans.values() if any("ix_alert_status_next" in s for s in plan)] == []
    assert all(
        any("PRIMARY KEY" in s or "ix_alert_dedup_key" in s for s in plan)
        for plan in plans.values()
    )
