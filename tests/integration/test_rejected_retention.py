"""Rejected payloads: identity codes masked before storing, purged after their retention,
and coach ledger keys migrated to their provider (issue 22), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlmodel import Session, select
from typer.testing import CliRunner

from contract.hetu import contains_identity_code
from contract.validate import validate_cases
from core.config import Settings
from models import reads, store
from models.db import make_engine
from models.provider_data import RejectedPayload
from models.schema import alembic_config, upgrade
from notifications.service import purge_expired_rejected
from vahti.cli import app

NOW = datetime(2026, 4, 7, 9, 0, tzinfo=UTC)
IDENTITY_CODE = "131052-308T"


def hostile_case(ref: str) -> dict[str, object]:
    return {
        "case_ref": ref,
        "service": "work_trial",
        "office_id": "HEL-1",
        "coach_id": "0401234567",  # a phone number as a coach id
        "decision_received_on": "2026-03-03",
        "case_url": f"https://crm.example.fi/c/{ref}?client={IDENTITY_CODE}",
        "note": f"asiakas {IDENTITY_CODE}",
        IDENTITY_CODE: "a code as a key",
        "updated_at": "2026-04-01T10:00:00+03:00",
    }


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as session:
        store.ensure_provider(session=session, provider_id="evil", name="", now=NOW)
        session.commit()
    yield engine
    engine.dispose()


def test_rejected_payloads_are_stored_masked_and_purged_after_retention(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """No identity code reaches the table; rows past 90 days go; `vahti db rejected` lists
    the rest with errors that name the field without echoing its value."""
    _, old = validate_cases([hostile_case("TK-OLD")])
    _, new = validate_cases([hostile_case("TK-NEW")])
    assert contains_identity_code(json.dumps(old[0].raw))  # the raw item holds the code
    with Session(engine) as session:
        for rejected, days_ago in ((old, 91), (new, 10)):
            store.store_rejected(
                session=session,
                provider_id="evil",
                rejected=rejected,
                received_at=NOW - timedelta(days=days_ago),
                sync_run_id=None,
            )
        session.commit()
        rows = list(session.scalars(select(RejectedPayload)))
    assert len(rows) == 2
    for row in rows:
        assert not contains_identity_code(row.raw + json.dumps(row.errors) + str(row.ref))
        assert "0401234567" not in json.dumps(row.errors)
        assert any(e.startswith("coach_id: looks like a phone number") for e in row.errors)
    settings = Settings.model_validate({"database": {"url": database_url}})
    assert settings.database.rejected_retention_days == 90
    assert purge_expired_rejected(engine, settings, now=NOW) == 1
    assert purge_expired_rejected(engine, settings, now=NOW) == 0
    with Session(engine) as session:
        assert [r.ref for r in reads.list_rejected(session=session)] == ["TK-NEW"]
    config = tmp_path / "vahti.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    listed = CliRunner().invoke(app, ["db", "rejected", "--config", str(config), "--json"])
    assert listed.exit_code == 0, listed.output
    (line,) = listed.stdout.strip().splitlines()
    assert json.loads(line)["ref"] == "TK-NEW"
    assert not contains_identity_code(listed.stdout)
    shorter = settings.model_copy(
        update={"database": settings.database.model_copy(update={"rejected_retention_days": 5})}
    )
    assert purge_expired_rejected(engine, shorter, now=NOW) == 1


def test_coach_ledger_keys_are_scoped_by_provider_on_upgrade(engine: Engine) -> None:
    """Migration 0011 rewrites coach:ID as coach:PROVIDER/ID and back on downgrade."""
    row = (
        "INSERT INTO alert (dedup_key, provider_id, subject_kind, subject, rule, stage, "
        "target_key, recipient_key, role, target_label, language, urgent, item, status, "
        "attempts, operations_notified, created_on, created_at) VALUES (:dedup, :provider, "
        "'case', 'TK-1', 'START-2W', 'warn-3', :target, :recipient, :role, 'x', 'fi', false, "
        "'{}', 'pending', 0, false, :on, :at)"
    )
    with engine.begin() as connection:
        config = alembic_config(connection)
        command.downgrade(config, "0010")
        for dedup, provider, recipient, role in (
            ("a", "good", "coach:c-001", "coach"),
            ("b", "evil", "coach:c-001", "coach"),
            ("c", "good", "quality:lv", "quality"),
        ):
            connection.execute(
                text(row),
                {
                    "dedup": dedup, "provider": provider, "target": f"{recipient}#abc",
                    "recipient": recipient, "role": role, "on": date(2026, 4, 7), "at": NOW,
                },
            )  # fmt: skip
        command.upgrade(config, "head")
        keys = connection.execute(
            text("SELECT provider_id, recipient_key, target_key FROM alert ORDER BY dedup_key")
        ).all()
    assert [tuple(k) for k in keys] == [
        ("good", "coach:good/c-001", "coach:good/c-001#abc"),
        ("evil", "coach:evil/c-001", "coach:evil/c-001#abc"),
        ("good", "quality:lv", "quality:lv#abc"),
    ]
