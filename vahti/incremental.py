"""Incremental evaluation: evaluate only what can have changed since the last run.

Due dates move only when a case or the rule pack changes; statuses move with the date.
So a provider's evaluation re-reads and re-evaluates only

* the cases stored or changed since the last evaluation (``last_changed_at``),
* the cases whose recheck day has come (``rules.recheck``: a status moves with the
  date on that day, e.g. ``open`` -> ``due_soon`` -> ``breached``),
* the cases closed since the last evaluation (their deadlines are retired),

plus every audit and the staff list (few, and their rules read the date themselves).
Every other case would give exactly the same deadline rows, so its stored current
deadlines stand (only ``days_left``, which is not part of a row's identity, is stale;
readers recompute it). A change of anything else the due dates depend on (the rule
code and packs, the provider's overrides, the staff list, the holiday calendar) or an
evaluation day before the last one makes the evaluation complete again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.metadata import version
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import Session, col

import rules
from models.db import session_scope
from models.evaluation import (
    cases_seen_at,
    get_state,
    open_case_count,
    refs_to_evaluate,
    save_state,
    store_rechecks,
)
from models.provider_data import Coach
from models.reads import load_audits, load_cases, load_coaches
from notifications.deadlines import store_deadlines
from vahti.config import Settings

#: Past this share of the provider's cases, a complete evaluation is cheaper.
FULL_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one provider's evaluation did."""

    complete: bool  # every open case evaluated (else: only the ones that can have changed)
    cases: int  # cases evaluated
    deadlines: int  # deadlines evaluated
    written: int  # new or changed deadline rows
    retired: int  # current rows retired (closed cases, rules that no longer apply)


@cache
def _rules_digest() -> str:
    """SHA-256 of the rule engine's code and packs (a new Vahti re-evaluates everything)."""
    digest = hashlib.sha256()
    for path in sorted(Path(rules.__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(version("holidays").encode())
    return digest.hexdigest()


def engine_key(session: Session, settings: Settings, provider_id: str) -> str:
    """The digest of everything besides the cases that the provider's due dates depend on."""
    provider = settings.provider(provider_id)
    staff = session.execute(
        select(col(Coach.coach_id), col(Coach.content_hash))
        .where(col(Coach.provider_id) == provider_id)
        .order_by(col(Coach.coach_id))
    ).all()
    data = [
        _rules_digest(),
        settings.pack,
        sorted(provider.overrides.items()),
        [list(row) for row in staff],
    ]
    return hashlib.sha256(json.dumps(data, default=str).encode()).hexdigest()


def evaluate_and_store(
    *, engine: Engine, settings: Settings, provider_id: str, today: date
) -> Outcome:
    """Evaluate what can have changed on ``today`` and store it (complete when needed).

    Three steps: read (one transaction), evaluate (no transaction: no lock is held while
    the engine works), write (one transaction). Rows are compared at write time, so a
    run that stored the same provider in between is seen, not overwritten.
    """
    with session_scope(engine) as session:
        key = engine_key(session, settings, provider_id)
        state = get_state(session=session, provider_id=provider_id)
        seen_at = cases_seen_at(session=session, provider_id=provider_id)
        refs: set[str] | None = None
        if state is not None and state.engine_key == key and today >= state.evaluated_on:
            refs = refs_to_evaluate(
                session=session,
                provider_id=provider_id,
                since=state.cases_seen_at,
                after_on=state.evaluated_on,
                today=today,
            )
            if len(refs) > FULL_SHARE * open_case_count(
                session=session, provider_id=provider_id, today=today
            ):
                refs = None  # most cases need it anyway: the complete path is as fast
        cases = load_cases(
            session=session,
            provider_id=provider_id,
            today=today,
            refs=None if refs is None else sorted(refs),
        )
        audits = load_audits(session=session, provider_id=provider_id)
        staff = load_coaches(session=session, provider_id=provider_id)
    provider = settings.provider(provider_id)
    recheck: dict[str, date | None] = {}
    deadlines = rules.evaluate(
        cases,
        audits,
        staff,
        rules.get_pack(settings.pack) if settings.pack else None,
        today,
        rules.FinnishCalendar(),
        overrides=dict(provider.overrides) or None,
        provider_id=provider_id,
        recheck=recheck,
    )
    with session_scope(engine) as session:
        result = store_deadlines(
            session=session,
            provider_id=provider_id,
            deadlines=deadlines,
            evaluated_on=today,
            retire_missing=True,
            cases=refs,
        )
        store_rechecks(session=session, provider_id=provider_id, rechecks=recheck, scope=refs)
        save_state(
            session=session,
            provider_id=provider_id,
            engine_key=key,
            evaluated_on=today,
            cases_seen_at=seen_at,
        )
    return Outcome(
        complete=refs is None,
        cases=len(cases),
        deadlines=len(deadlines),
        written=result.new + result.changed,
        retired=result.retired,
    )
