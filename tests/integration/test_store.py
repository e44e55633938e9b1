"""Store: migrations match the models, page upserts are idempotent, nothing is lost."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, delete, func, select, text
from sqlmodel import Session, SQLModel

from contract.payloads import AuditPayload, CasePayload, CoachPayload
from contract.rejected import Rejected
from core.errors import StoreError
from models import reads, store
from models.alerting import Alert
from models.bulk import insert_dicts
from models.db import make_engine
from models.ledger import write_alerts
from models.provider_data import Audit, Case, CaseRevision, Coach, Finding, RejectedPayload
from models.schema import (
    SCHEMA_HEAD,
    alembic_config,
    check_schema,
    current_revision,
    script_revisions,
    upgrade,
)
from models.statistics import refresh_statistics

NOW = datetime(2025, 5, 2, 9, 0, tzinfo=UTC)


def case_raw(ref: str, **changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "case_ref": ref,
        "service": "work_trial",
        "office_id": "HEL-1",
        "coach_id": "c-001",
        "language": "fi",
        "decision_received_on": "2025-03-03",
        "first_meeting_on": "2025-03-10",
        "meetings": [{"on": "2025-03-10", "mode": "in_person", "place": "office", "minutes": 60}],
        "updated_at": "2025-04-14T15:02:11+03:00",
    }
    raw.update(changes)
    return raw


def cases(*raws: dict[str, Any]) -> list[tuple[CasePayload, object]]:
    return [(CasePayload.model_validate(raw), raw) for raw in raws]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as session:
        store.ensure_provider(session=session, provider_id="demo", name="Demo", now=NOW)
        session.commit()
    yield engine
    engine.dispose()


def count(session: Session, model: type[SQLModel]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_migrations_match_the_models(engine: Engine) -> None:
    """The migrated schema equals the SQLModel metadata (no autogenerate diff)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    assert current_revision(engine) == SCHEMA_HEAD
    check_schema(engine)


def test_the_schema_head_constant_is_the_newest_migration() -> None:
    """SCHEMA_HEAD (what a process checks its database against without Alembic) names the
    newest script: a migration added without moving it fails here."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head == SCHEMA_HEAD == script_revisions()[0]


def _old_case_rows(engine: Engine, raws: list[dict[str, Any]]) -> None:
    """Cases as the sync wrote them before migrations 0005 and 0007: the ASCII canonical
    text, kept both in the current row and in its revision."""
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO provider (id, name, created_at) VALUES ('demo', 'Demo', :at)"),
            {"at": NOW},
        )
        for raw in raws:
            old = json.dumps(raw, sort_keys=True, separators=(",", ":"))
            values = {
                "ref": raw["case_ref"], "office": raw["office_id"], "raw": old,
                "digest": store.content_hash(old), "at": NOW,
            }  # fmt: skip
            connection.execute(
                text(
                    "INSERT INTO provider_case (provider_id, case_ref, service, office_id, "
                    "coach_id, language, decision_received_on, raw, content_hash, updated_at, "
                    "first_seen_at, last_changed_at) VALUES ('demo', :ref, 'work_trial', "
                    ":office, 'c-001', 'fi', '2025-03-03', :raw, :digest, :at, :at, :at)"
                ),
                values,
            )
            connection.execute(
                text(
                    "INSERT INTO case_revision (provider_id, case_ref, content_hash, raw, "
                    "updated_at, received_at) VALUES ('demo', :ref, :digest, :raw, :at, :at)"
                ),
                values,
            )


def test_upgrading_keeps_stored_items_unchanged(database_url: str) -> None:
    """Texts stored in the old canonical form are rewritten (hash too) by migration 0005,
    and kept once (0007), so the same items synced after the upgrade are unchanged; NaN
    keeps its old text."""
    engine = make_engine(database_url)
    upgrade(engine, "0004")
    old_form = [case_raw("TK-1", office_name="Äänekoski"), case_raw("TK-2")]  # ids are ASCII
    quirky = case_raw("TK-3", score=float("nan"))
    _old_case_rows(engine, [*old_form, quirky])
    upgrade(engine)
    with Session(engine) as session:
        stored = {c.case_ref: c for c in session.scalars(select(Case))}

        def raw(ref: str) -> str | None:
            return reads.case_raw(session=session, provider_id="demo", case_ref=ref)

        assert raw("TK-1") == store.canonical_json(old_form[0])
        assert "Äänekoski" in (raw("TK-1") or "")
        assert raw("TK-3") == json.dumps(quirky, sort_keys=True, separators=(",", ":"))
        revisions = {r.content_hash for r in session.scalars(select(CaseRevision))}
        assert revisions == {c.content_hash for c in stored.values()}
        again = store.store_cases(
            session=session,
            provider_id="demo",
            items=cases(*old_form, quirky),
            received_at=NOW + timedelta(days=1),
        )
    engine.dispose()
    assert (again.stored, again.unchanged) == (0, 3)


def test_schema_version_checks(engine: Engine) -> None:
    """A database ahead of the code, or without a schema, is refused with a clear message."""
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match=r"'9999', newer than this Vahti"):
        check_schema(engine)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
    with pytest.raises(StoreError, match="no Vahti schema"):
        check_schema(engine)


def test_an_item_stored_before_a_stricter_contract_is_left_out_not_fatal(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored case whose id today's contract refuses does not fail the others' read."""
    old = case_raw("TK-2", office_id="Ääne koski")  # a space: refused since December 2026
    page = [*cases(case_raw("TK-1")), (CasePayload.model_validate(case_raw("TK-2")), old)]
    with Session(engine) as session:
        store.store_cases(session=session, provider_id="demo", items=page, received_at=NOW)
        session.commit()
    with Session(engine) as session:
        loaded = reads.load_cases(session=session, provider_id="demo", only_open=False)
    assert [c.case_ref for c in loaded] == ["TK-1"]
    assert "1 stored CasePayload item(s) no longer pass" in caplog.text


def test_same_page_twice_changes_nothing(engine: Engine) -> None:
    """Storing a page again counts every item unchanged and writes no row."""
    page = cases(case_raw("TK-1"), case_raw("TK-2"), case_raw("TK-3"))
    with Session(engine) as session:
        first = store.store_cases(session=session, provider_id="demo", items=page, received_at=NOW)
        session.commit()
    later = NOW + timedelta(hours=1)
    with Session(engine) as session:
        again = store.store_cases(
            session=session, provider_id="demo", items=page, received_at=later
        )
        session.commit()
        rows = session.scalars(select(Case).order_by(Case.case_ref)).all()
        assert count(session, CaseRevision) == 3
    assert (first.stored, first.unchanged) == (3, 0)
    assert (again.stored, again.unchanged) == (0, 3)
    assert [r.case_ref for r in rows] == ["TK-1", "TK-2", "TK-3"]
    assert all(r.last_changed_at == NOW for r in rows)
    assert rows[0].updated_at == datetime(2025, 4, 14, 12, 2, 11, tzinfo=UTC)


def test_every_distinct_payload_is_kept(engine: Engine) -> None:
    """A changed case updates the current row and adds a revision; an older one never wins."""
    v1 = case_raw("TK-1")
    v2 = case_raw("TK-1", first_contact_on="2025-03-04", updated_at="2025-04-15T10:00:00+03:00")
    with Session(engine) as session:
        for raw in (v1, v2, v1):  # v1 again arrives late (out of order)
            store.store_cases(
                session=session, provider_id="demo", items=cases(raw), received_at=NOW
            )
        session.commit()
        current = reads.case_raw(session=session, provider_id="demo", case_ref="TK-1")
        revisions = session.scalars(select(CaseRevision.raw)).all()
    assert current is not None
    assert CasePayload.model_validate_json(current).first_contact_on == date(2025, 3, 4)
    assert len(revisions) == 2
    assert {CasePayload.model_validate_json(r).first_contact_on for r in revisions} == {
        None,
        date(2025, 3, 4),
    }


def test_rejected_payloads_are_kept_with_errors(engine: Engine) -> None:
    """Invalid items are stored once with every error, even when the raw is not JSON."""
    bad = [
        Rejected(
            "case", "TK-9", ("service: 'x' is not a service", "updated_at: missing"), {"a": 1}
        ),
        Rejected("case", None, ("not an object",), {1: "mixed", "k": {2, 3}}),
    ]
    with Session(engine) as session:
        for _ in range(2):
            stored = store.store_rejected(
                session=session, provider_id="demo", rejected=bad, received_at=NOW, sync_run_id=None
            )
            assert stored == 2
        session.commit()
        rows = reads.list_rejected(session=session, provider_id="demo")
        assert count(session, RejectedPayload) == 2
    by_ref = {row.ref: row for row in rows}
    assert by_ref["TK-9"].errors == ["service: 'x' is not a service", "updated_at: missing"]
    assert by_ref["TK-9"].raw == '{"a":1}'
    assert "mixed" in by_ref[None].raw


def test_load_cases_skips_closed_cases(engine: Engine) -> None:
    """A case is closed from 60 days after its feedback was sent; open ones load as payloads."""
    ended = case_raw("TK-2", ended_on="2025-04-01", end_reason="completed")
    closed = {**ended, "case_ref": "TK-3", "feedback_sent_on": "2025-04-10"}
    with Session(engine) as session:
        store.store_cases(
            session=session,
            provider_id="demo",
            items=cases(case_raw("TK-1"), ended, closed),
            received_at=NOW,
        )
        session.commit()
        before = reads.load_cases(session=session, provider_id="demo", today=date(2025, 6, 8))
        after = reads.load_cases(session=session, provider_id="demo", today=date(2025, 6, 9))
        everything = reads.load_cases(session=session, provider_id="demo", only_open=False)
    assert [c.case_ref for c in before] == ["TK-1", "TK-2", "TK-3"]
    assert [c.case_ref for c in after] == ["TK-1", "TK-2"]
    assert len(everything) == 3
    assert isinstance(after[0], CasePayload)


def test_audits_and_findings_follow_the_payload(engine: Engine) -> None:
    """A changed audit rewrites its findings; the same audit again changes nothing."""
    raw: dict[str, Any] = {
        "audit_id": "AUD-1",
        "visit_on": "2025-05-06",
        "findings": [
            {"finding_id": "F1", "severity": "major", "area": "staff"},
            {"finding_id": "F2", "severity": "minor", "area": "documentation"},
        ],
        "updated_at": "2025-05-06T12:00:00+03:00",
    }
    fixed = {**raw, "findings": raw["findings"][:1], "updated_at": "2025-05-20T12:00:00+03:00"}
    with Session(engine) as session:
        counts = []
        for item in (raw, raw, fixed):
            pair = [(AuditPayload.model_validate(item), item)]
            result = store.store_audits(
                session=session, provider_id="demo", items=pair, received_at=NOW
            )
            counts.append(result.stored)
        session.commit()
        findings = session.scalars(select(Finding.finding_id)).all()
        audits = reads.load_audits(session=session, provider_id="demo")
        assert count(session, Audit) == 1
    assert counts == [1, 0, 1]
    assert findings == ["F1"]
    assert [f.finding_id for f in audits[0].findings] == ["F1"]


def test_staff_is_replaced_idempotently(engine: Engine) -> None:
    """The coach list follows the provider; a coach whose payload was rejected stays."""

    def coach(id_: str, **changes: Any) -> dict[str, Any]:
        return {"id": id_, "office_id": "HEL-1", **changes}

    def replace(raws: list[dict[str, Any]], listed: list[str]) -> store.PageCounts:
        pairs = [(CoachPayload.model_validate(raw), raw) for raw in raws]
        with Session(engine) as session:
            change = store.staff_change(
                session=session, provider_id="demo", items=pairs, listed_ids=listed, synced_at=NOW
            )
            result = store.replace_coaches(session=session, provider_id="demo", change=change)
            session.commit()
        assert change.empty == (result.stored == 0)
        return result

    first = replace([coach("c-1"), coach("c-2"), coach("c-3")], ["c-1", "c-2", "c-3"])
    same = replace([coach("c-1"), coach("c-2"), coach("c-3")], ["c-1", "c-2", "c-3"])
    # c-2 leaves, c-3 sends an invalid payload (listed, not valid), c-1 changes office
    changed = replace([coach("c-1", office_id="TKU-1")], ["c-1", "c-3"])
    with Session(engine) as session:
        coaches = reads.load_coaches(session=session, provider_id="demo")
        assert count(session, Coach) == 2
    assert (first.stored, same.stored, same.unchanged) == (3, 0, 3)
    assert changed.stored == 2  # one changed, one removed
    assert [(c.id, c.office_id) for c in coaches] == [("c-1", "TKU-1"), ("c-3", "HEL-1")]


def test_watermark_only_moves_forward(engine: Engine) -> None:
    """advance_watermark keeps the greatest updated_at, as an aware UTC timestamp."""
    later = datetime(2025, 4, 15, 10, 0, tzinfo=UTC)
    with Session(engine) as session:
        for moment in (later, later - timedelta(days=3)):
            store.advance_watermark(
                session=session, provider_id="demo", collection="cases", updated_at=moment
            )
        session.commit()
        marks = store.watermarks(session=session, provider_id="demo")
        mark = marks["cases"]
        assert marks["audits"] is None
    assert mark == later
    assert mark is not None
    assert mark.tzinfo is not None


def test_sync_runs_are_recorded(engine: Engine) -> None:
    """A sync run is recorded as running, then finished with its counts."""
    with Session(engine) as session:
        run_id = store.start_sync_run(
            session=session, provider_id="demo", started_at=NOW, full=False
        )
        store.finish_sync_run(
            session=session,
            run_id=run_id,
            finished_at=NOW + timedelta(seconds=5),
            status="failed",
            fetched=7,
            counts=store.PageCounts(stored=3, unchanged=2, rejected=2),
            error="cases: boom",
        )
        session.commit()
        (run,) = reads.latest_sync_runs(session=session, provider_id="demo")
    assert (run.status, run.fetched, run.stored, run.unchanged, run.rejected) == (
        "failed", 7, 3, 2, 2,
    )  # fmt: skip
    assert run.error == "cases: boom"


def test_bulk_inserts_apply_the_columns_defaults_and_count_the_rows_written(
    engine: Engine,
) -> None:
    """The driver-level insert stores what a Core insert would (the columns' own defaults
    for what a row leaves out) and counts only the rows written, not the conflicting."""

    def row(key: str) -> dict[str, Any]:
        return {
            "dedup_key": key, "provider_id": "demo", "subject_kind": "case", "subject": "TK-1",
            "rule": "START-2W", "due_on": date(2025, 5, 9), "stage": "breach",
            "target_key": "quality:lv", "recipient_key": "quality:lv", "role": "quality",
            "target_label": "mailto://…", "language": "fi", "item": "{}",
            "created_on": date(2025, 5, 2), "created_at": NOW,
        }  # fmt: skip

    with Session(engine) as session:
        first = write_alerts(session=session, rows=[row("k1"), row("k2")])
        again = write_alerts(session=session, rows=[row("k2"), row("k3")])
        table = Alert.__table__  # type: ignore[attr-defined]
        none = insert_dicts(session, store._insert(session, table), [])
        session.commit()
        stored = session.scalars(select(Alert).order_by(Alert.dedup_key)).all()
    assert (first, again, none) == (2, 1, 0)
    assert [a.dedup_key for a in stored] == ["k1", "k2", "k3"]
    assert {(a.status, a.attempts, a.urgent, a.operations_notified) for a in stored} == {
        ("pending", 0, False, False)
    }
    assert stored[0].due_on == date(2025, 5, 9)
    assert stored[0].created_at == NOW


def test_bulk_inserts_of_different_conflict_clauses_stay_different(engine: Engine) -> None:
    """Each ON CONFLICT statement is compiled once per shape and reused: statements that
    differ only in their conflict clause, for the same columns, keep their own SQL."""
    table: Any = Coach.__table__

    def coach(office: str) -> dict[str, Any]:
        raw = json.dumps({"id": "c-1", "office_id": office})
        return {
            "provider_id": "demo", "coach_id": "c-1", "office_id": office, "active": True,
            "raw": raw, "content_hash": store.content_hash(raw), "synced_at": NOW,
        }  # fmt: skip

    def offices(session: Session) -> list[str]:
        return list(session.scalars(select(Coach.office_id)))

    keys = ["provider_id", "coach_id"]
    with Session(engine) as session:
        for _ in range(2):  # the second time from the compiled cache
            kept = store._insert(session, table).on_conflict_do_nothing(index_elements=keys)
            insert_dicts(session, kept, [coach("HEL-1")])
            insert_dicts(session, kept, [coach("TKU-1")])
            assert offices(session) == ["HEL-1"]
            replaced = store._insert(session, table)
            replaced = replaced.on_conflict_do_update(
                index_elements=keys, set_={"office_id": replaced.excluded.office_id}
            )
            insert_dicts(session, replaced, [coach("TKU-1")])
            assert offices(session) == ["TKU-1"]
            session.execute(delete(Coach))


def test_planner_statistics_are_refreshed_where_many_rows_changed(database_url: str) -> None:
    """PostgreSQL: a table with more changed rows than autovacuum's threshold (50 + 10 %) is
    analyzed, and then not again until it changes that much once more; SQLite: nothing."""
    engine = make_engine(database_url)
    upgrade(engine)
    try:
        if engine.dialect.name == "sqlite":
            assert refresh_statistics(engine) == []
            return
        refresh_statistics(engine)  # whatever the migrations wrote
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO provider (id, name, created_at) "
                    "SELECT 'p' || g, 'Provider', now() FROM generate_series(1, 500) g"
                )
            )
            connection.execute(text("SELECT pg_stat_force_next_flush()"))
        _wait_for_changes(engine, "provider", 500)
        assert _planner_rows(engine, "provider") == -1  # never analyzed: PostgreSQL guesses
        assert refresh_statistics(engine) == ["provider"]
        assert _planner_rows(engine, "provider") == 500
        assert refresh_statistics(engine) == []
    finally:
        engine.dispose()


def _wait_for_changes(engine: Engine, table: str, rows: int) -> None:
    """Until the statistics collector shows ``rows`` changed in ``table`` (it lags a little)."""
    query = text(
        "SELECT n_mod_since_analyze FROM pg_stat_user_tables "
        "WHERE schemaname = current_schema() AND relname = :table"
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_stat_clear_snapshot()"))
            if connection.execute(query, {"table": table}).scalar_one() >= rows:
                return
        time.sleep(0.1)
    raise AssertionError(f"the statistics collector never showed {rows} changes in {table}")


def _planner_rows(engine: Engine, table: str) -> float:
    with engine.connect() as connection:
        return float(
            connection.execute(
                text(
                    "SELECT c.reltuples FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relname = :table"
                ),
                {"table": table},
            ).scalar_one()
        )
