"""Incremental evaluation: evaluate only what can have changed since the last run.

The compliance check evaluates the cases a sync page brings while they are in memory
(:class:`ProviderEvaluation`), and reads back only what the pages did not bring.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib.metadata import version
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

import rules
from contract import validate as validation
from contract.payloads import CasePayload, CoachPayload
from core.config import Settings
from models.db import read_scope, session_scope
from models.deadlines import (
    PreparedDeadlines,
    StoreDeadlinesResult,
    prepare_deadlines,
    store_deadlines,
)
from models.evaluation import (
    cases_seen_at,
    current_case_refs,
    get_state,
    open_case_refs,
    refs_to_evaluate,
    save_state,
    store_rechecks,
)
from models.reads import load_audits, load_cases, staff_known, staff_state
from models.store import is_open
from notifications.policy import planned_when_stored

#: Cases read back and evaluated per transaction when the sync did not bring them.
CHUNK = 1000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one provider's evaluation did."""

    complete: bool  # every open case evaluated (else: only the ones that can have changed)
    cases: int  # cases evaluated
    deadlines: int  # deadlines evaluated
    written: int  # new or changed deadline rows
    retired: int  # current rows retired (closed cases, rules that no longer apply)
    why: str = ""  # why a complete evaluation was needed (e.g. RULES_CHANGED after an upgrade)


@dataclass(frozen=True, slots=True)
class Evaluated:
    """Some cases evaluated: their refs, their deadlines made ready to store (fingerprints
    and rows: not made while the writer lock is held), the open ones' recheck days."""

    refs: frozenset[str] = frozenset()
    deadlines: PreparedDeadlines = field(default_factory=PreparedDeadlines)
    recheck: dict[str, date | None] = field(default_factory=dict)

    def only(self, refs: set[str]) -> Evaluated:
        """What was evaluated of ``refs`` alone (a page's cases that were not stored drop out)."""
        if self.refs <= refs:
            return self
        return Evaluated(
            self.refs & refs,
            self.deadlines.only(refs),  # case rules: subject = case_ref
            {ref: day for ref, day in self.recheck.items() if ref in refs},
        )

    def plus(self, other: Evaluated) -> Evaluated:
        if not other.refs:
            return self
        return Evaluated(
            self.refs | other.refs,
            self.deadlines.plus(other.deadlines),
            {**self.recheck, **other.recheck},
        )


@cache
def _rules_digest() -> str:
    """SHA-256 of the rule engine's code and packs and of the validation it relies on
    (what is valid input changes what is evaluated): a new Vahti re-evaluates everything."""
    digest = hashlib.sha256()
    for folder in (Path(rules.__file__).parent, Path(validation.__file__).parent):
        for path in sorted(folder.glob("*.py")):
            digest.update(f"{folder.name}/{path.name}".encode())
            digest.update(path.read_bytes())
    digest.update(version("holidays").encode())
    return digest.hexdigest()


#: Why an evaluation is complete, as the check's log line says it.
RULES_CHANGED = "rules or packs changed"
PROVIDER_CHANGED = "overrides or staff changed"
FIRST = "first evaluation"
EARLIER_DAY = "a day before the last evaluation"


def engine_key(settings: Settings, provider_id: str, staff: Sequence[tuple[str, str]]) -> str:
    """The digest of everything besides the cases that the provider's due dates depend on
    (``staff``: its stored coaches' ids and content hashes, ordered by id).

    Two halves, so a complete evaluation can say why: the engine (rule and validation
    code, packs, holidays) and the provider (overrides, staff).
    """
    provider = settings.provider(provider_id)
    engine = [_rules_digest(), settings.pack]
    mine = [sorted(provider.overrides.items()), [list(row) for row in staff]]
    halves = (hashlib.sha256(json.dumps(part, default=str).encode()) for part in (engine, mine))
    return "".join(half.hexdigest()[:32] for half in halves)


def complete_because(
    key: str, today: date, stored_key: str | None, evaluated_on: date | None
) -> str | None:
    """Why the evaluation must be complete (None: an incremental one will do)."""
    if stored_key is None or evaluated_on is None:
        return FIRST
    if stored_key[:32] != key[:32]:
        return RULES_CHANGED
    if stored_key != key:
        return PROVIDER_CHANGED
    if today < evaluated_on:
        return EARLIER_DAY
    return None


class ProviderEvaluation:
    """One provider's evaluation on one day: fed page by page by its sync, then finished.

    :meth:`begin` (after the staff list is synced) decides between a complete and an
    incremental evaluation; :meth:`page_received` evaluates a page's new or changed
    cases and makes their deadline rows ready before the page's transaction (already
    validated and in memory: nothing is read back, and no writer lock is held
    meanwhile), :meth:`cases_stored` stores those rows in it; :meth:`finish` evaluates
    what the pages did not bring (cases whose recheck day came, cases closed since,
    everything else when complete), a chunk at a time, each before its transaction,
    then audits and staff, and records the state. Memory stays bounded by a page
    or a chunk whatever the provider's size.
    """

    def __init__(
        self, *, engine: Engine, settings: Settings, provider_id: str, today: date
    ) -> None:
        self.engine = engine
        self.provider_id = provider_id
        self.today = today
        self._settings = settings
        provider = settings.provider(provider_id)
        self._env = rules.Env(
            today=today,
            calendar=rules.FinnishCalendar(),
            pack=rules.get_pack(settings.pack) if settings.pack else None,
            overrides=dict(provider.overrides) or None,
            provider_id=provider_id,
            warn_days=rules.WARN_DAYS,
        )
        self._key = ""
        self._complete = True
        self._why: str | None = FIRST
        self._since: datetime | None = None
        self._after_on = today
        self._coaches: list[CoachPayload] = []
        self._done: set[str] = set()
        self._counts = [0, 0, 0, 0]  # cases, deadlines, written, retired
        self._begun = False

    def begin(self) -> None:
        """Read the state and the staff list: complete, or only what can have changed."""
        self._begun = True
        with read_scope(self.engine) as session:
            staff = staff_state(session=session, provider_id=self.provider_id)
            state = get_state(session=session, provider_id=self.provider_id)
        self._key = engine_key(self._settings, self.provider_id, staff.hashes)
        self._coaches = staff.coaches
        self._why = complete_because(
            self._key,
            self.today,
            None if state is None else state.engine_key,
            None if state is None else state.evaluated_on,
        )
        self._complete = self._why is not None
        if state is not None and not self._complete:
            self._since, self._after_on = state.cases_seen_at, state.evaluated_on

    @property
    def coaches(self) -> list[CoachPayload]:
        """The provider's stored staff list the evaluation used (read by :meth:`begin`, which
        :meth:`finish` runs if the sync did not)."""
        return self._coaches

    def page_received(self, items: Sequence[tuple[CasePayload, object]]) -> Evaluated:
        """Evaluate a page's new or changed cases before its transaction (no writer lock)."""
        return self._evaluate([case for case, _ in items])

    def cases_stored(
        self, session: Session, cases: Sequence[CasePayload], received: object
    ) -> None:
        """Store the deadlines of cases just stored (new or changed) in the caller's
        transaction; what :meth:`page_received` did not evaluate is evaluated here."""
        if not cases:
            return
        done = received if isinstance(received, Evaluated) else Evaluated()
        late = [case for case in cases if case.case_ref not in done.refs]  # stored meanwhile
        refs = {case.case_ref for case in cases}
        self._write(session, done.only(refs).plus(self._evaluate(late)), refs)
        self._done |= refs

    def finish(self) -> Outcome:
        """Evaluate the cases the pages did not bring, then audits and staff; save the state."""
        if not self._begun:  # the sync stopped before its cases (e.g. refused credentials)
            self.begin()
        with read_scope(self.engine) as session:
            seen_at = cases_seen_at(session=session, provider_id=self.provider_id)
            if self._complete:
                refs = current_case_refs(session=session, provider_id=self.provider_id)
                refs |= open_case_refs(
                    session=session, provider_id=self.provider_id, today=self.today
                )
            else:
                refs = refs_to_evaluate(
                    session=session,
                    provider_id=self.provider_id,
                    since=self._since,
                    after_on=self._after_on,
                    today=self.today,
                )
            audits = load_audits(session=session, provider_id=self.provider_id)
            staff = (
                self._coaches
                if self._coaches or staff_known(session=session, provider_id=self.provider_id)
                else None  # never read: COACH-TEAM-MIN-3 unconfigured, not a team of 0
            )
            remaining = sorted(refs - self._done)
            chunks = [remaining[start : start + CHUNK] for start in range(0, len(remaining), CHUNK)]
            last = chunks.pop() if chunks else []
            last_cases = self._load(session, last)
        for chunk in chunks:  # a complete evaluation of a big provider: a chunk at a time
            with read_scope(self.engine) as session:
                evaluated = self._evaluate(self._load(session, chunk))
            with session_scope(self.engine) as session:
                self._write(session, evaluated, set(chunk))
        others = prepare_deadlines(
            rules.evaluate_others(audits, staff, self._env),
            self.engine.dialect,
            planned=planned_when_stored,
        )
        evaluated = self._evaluate(last_cases)  # evaluated before the writer lock is taken
        with session_scope(self.engine) as session:  # the rest, and the state, at once
            if last:
                self._write(session, evaluated, set(last))
            result = store_deadlines(
                session=session,
                provider_id=self.provider_id,
                deadlines=others,
                evaluated_on=self.today,
                retire_missing=True,
                cases=(),
            )
            self._count(0, len(others), result)
            save_state(
                session=session,
                provider_id=self.provider_id,
                engine_key=self._key,
                evaluated_on=self.today,
                cases_seen_at=seen_at,
            )
        cases, deadlines, written, retired = self._counts
        return Outcome(self._complete, cases, deadlines, written, retired, self._why or "")

    def _load(self, session: Session, refs: Sequence[str]) -> list[CasePayload]:
        if not refs:
            return []
        return load_cases(
            session=session, provider_id=self.provider_id, today=self.today, refs=refs
        )

    def _evaluate(self, cases: Sequence[CasePayload]) -> Evaluated:
        """The deadlines and recheck days of the open ones of ``cases`` (closed: none)."""
        live = [case for case in cases if is_open(case, self.today)]
        recheck: dict[str, date | None] = {}
        deadlines = rules.evaluate_cases(live, self._coaches, self._env, recheck=recheck)
        ready = prepare_deadlines(deadlines, self.engine.dialect, planned=planned_when_stored)
        return Evaluated(frozenset(case.case_ref for case in cases), ready, recheck)

    def _write(self, session: Session, evaluated: Evaluated, refs: set[str]) -> None:
        """Store ``evaluated`` for the cases ``refs`` (their other current rows retire)."""
        result = store_deadlines(
            session=session,
            provider_id=self.provider_id,
            deadlines=evaluated.deadlines,
            evaluated_on=self.today,
            retire_missing=True,
            cases=refs,
            others=False,
        )
        store_rechecks(
            session=session, provider_id=self.provider_id, rechecks=evaluated.recheck, scope=refs
        )
        self._count(len(evaluated.recheck), len(evaluated.deadlines), result)

    def _count(self, cases: int, deadlines: int, result: StoreDeadlinesResult) -> None:
        self._counts[0] += cases
        self._counts[1] += deadlines
        self._counts[2] += result.new + result.changed
        self._counts[3] += result.retired


def evaluate_and_store(
    *, engine: Engine, settings: Settings, provider_id: str, today: date
) -> Outcome:
    """Evaluate the provider's stored data on ``today`` (complete when needed) and store it."""
    evaluation = ProviderEvaluation(
        engine=engine, settings=settings, provider_id=provider_id, today=today
    )
    evaluation.begin()
    return evaluation.finish()
