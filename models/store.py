"""Persistence for provider data: idempotent page upserts (reads are in models/reads.py).

Writes work one page at a time inside the caller's transaction (the sync commits once
per page, together with the watermark). Each page costs a handful of statements
whatever its size: one SELECT of the stored content hashes for the page's refs, then
bulk ``INSERT ... ON CONFLICT`` for the new or changed rows, their revisions and the
rejected items. The same page stored twice changes nothing.

Open cases: a case is *closed* from ``closed_on`` = ``feedback_sent_on`` +
``CLOSE_AFTER_FEEDBACK_DAYS`` (60) when it has ended and its feedback was sent; closed
cases need no re-evaluation and :func:`models.reads.load_cases` skips them unless asked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from operator import attrgetter
from typing import Any, Generic, Literal, NamedTuple, TypeVar

import orjson
from pydantic import BaseModel
from sqlalchemy import Select, Table, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from contract.hetu import withhold
from contract.payloads import AuditPayload, CasePayload, CoachPayload
from contract.rejected import Rejected
from models.bulk import insert_dicts
from models.provider_data import (
    CLOSE_AFTER_FEEDBACK_DAYS,
    Audit,
    Case,
    CaseRevision,
    Coach,
    Finding,
    Provider,
    RejectedPayload,
    SyncRun,
)

Collection = Literal["cases", "audits", "staff"]
PagedCollection = Literal["cases", "audits"]  #: the collections read page by page

_Payload = TypeVar("_Payload", bound=BaseModel)


@dataclass(slots=True)
class PageCounts:
    """What storing one page did."""

    stored: int = 0  # new or changed items saved
    unchanged: int = 0  # identical to what was stored
    rejected: int = 0  # invalid items saved to rejected payloads
    changed: tuple[str, ...] = ()  # the refs stored (new or changed), sorted

    def add(self, other: PageCounts) -> None:
        self.stored += other.stored
        self.unchanged += other.unchanged
        self.rejected += other.rejected


class Canonical(str):
    """Text already made by :func:`canonical_json` (the sync makes it once per item)."""

    __slots__ = ()


def canonical(raw: object, *, strict: bool = False) -> Canonical:
    """``canonical_json(raw)`` marked as such; a Canonical passes through unchanged."""
    return raw if isinstance(raw, Canonical) else Canonical(canonical_json(raw, strict=strict))


def may_be_unstorable(text: str) -> bool:
    """False when canonical ``text`` holds no NUL and no lone surrogate, raw or escaped.

    Every string of a payload validated from the item is in the text, so False proves
    :func:`unstorable` would find nothing; True means: run it. NUL shows as an escape in
    every canonical form; a lone surrogate as an escape in the ASCII form (a valid pair
    too: then the exact check decides) and only un-encodable in the repr fallback.
    """
    if "\x00" in text:
        return True
    escapes = ("\\u0000", "\\x00", "\\ud", "\\uD")  # each starts with a backslash:
    if "\\" in text and any(e in text for e in escapes):  # one fast scan finds none
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _non_finite(value: object) -> bool:
    """A NaN or infinite float anywhere in ``value`` (orjson would write it as null)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def canonical_json(raw: object, *, strict: bool = False) -> str:
    """The raw item as canonical JSON text: sorted keys, no spaces; else its repr.

    Written by orjson (UTF-8, much faster than ``json``) whenever that is exact: always
    for a value a strict parser read (``strict``, see ``providers.client.parse_json``),
    otherwise unless it holds NaN or infinity. What orjson cannot write exactly (lone
    surrogates, integers past 64 bits, non-string keys, NaN) is written by ``json`` in
    ASCII with ``\\uXXXX`` escapes. Either way NUL characters and lone surrogates a
    hostile provider may send are stored safely on every backend, and the same item
    always gives the same text.
    """
    if isinstance(raw, bytes):
        return safe_text(raw.decode("utf-8", errors="backslashreplace"))
    if strict or not _non_finite(raw):
        try:
            return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    try:
        return json.dumps(raw, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(raw)


def safe_text(text: str) -> str:
    """``text`` without NUL characters or lone surrogates (escaped), storable anywhere."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return text


def _fields(payload: object) -> list[tuple[str, object]]:
    """A wire model's or a nested payload dataclass's fields with their values."""
    if isinstance(payload, BaseModel):
        return list(payload)
    return [(f.name, getattr(payload, f.name)) for f in dataclasses.fields(payload)]  # type: ignore[arg-type]


def unstorable(payload: object, where: str = "") -> str | None:
    """Why a validated payload's text fields cannot be stored as columns, if they cannot."""
    for name, value in _fields(payload):
        path = f"{where}.{name}" if where else name
        values = value if isinstance(value, tuple) else (value,)
        for index, item in enumerate(values):
            at = f"{path}[{index}]" if isinstance(value, tuple) else path
            if isinstance(item, str) and safe_text(item) != item:
                return f"{at}: contains a NUL character or an invalid code point"
            nested = isinstance(item, BaseModel) or dataclasses.is_dataclass(item)
            if nested and (reason := unstorable(item, at)):
                return reason
    return None


def content_hash(text: str) -> str:
    """SHA-256 of canonical JSON text."""
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def _insert(session: Session, table: Table) -> Any:
    """The dialect's INSERT (both SQLite and PostgreSQL support ON CONFLICT)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


#: The tables the sync's per-provider statements write (Core: no ORM unit of work, no
#: session synchronisation; each statement is one round of SQLAlchemy).
_PROVIDER: Table = Provider.__table__  # type: ignore[attr-defined]
_SYNC_RUN: Table = SyncRun.__table__  # type: ignore[attr-defined]
_WATERMARKS = (_PROVIDER.c.cases_watermark, _PROVIDER.c.audits_watermark)


def ensure_provider(
    *, session: Session, provider_id: str, name: str, now: datetime
) -> dict[str, datetime | None]:
    """Create the provider's row if missing (keep its watermarks), refresh its name; returns
    its :func:`watermarks` (one statement: the upsert returns them)."""
    stmt = _insert(session, _PROVIDER).values(id=provider_id, name=name, created_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={"name": name})
    cases, audits = session.execute(stmt.returning(*_WATERMARKS)).one()
    return {"cases": cases, "audits": audits}


def get_provider(*, session: Session, provider_id: str) -> Provider | None:
    """The provider's row with its sync state, or None before its first sync."""
    return session.get(Provider, provider_id)


def watermarks(*, session: Session, provider_id: str) -> dict[str, datetime | None]:
    """Each paged collection's greatest stored ``updated_at`` (where its next sync starts),
    from one read of the provider's row."""
    row = session.execute(select(*_WATERMARKS).where(_PROVIDER.c.id == provider_id)).first()
    if row is None:
        return {"cases": None, "audits": None}
    return {"cases": row[0], "audits": row[1]}


def advance_watermark(
    *, session: Session, provider_id: str, collection: Collection, updated_at: datetime
) -> None:
    """Move the collection's watermark forward to ``updated_at`` (never backwards)."""
    column = _PROVIDER.c[f"{collection}_watermark"]
    session.execute(
        update(_PROVIDER)
        .where(_PROVIDER.c.id == provider_id, or_(column.is_(None), column < updated_at))
        .values({column: updated_at})
    )


def mark_synced(*, session: Session, provider_id: str, at: datetime, staff: bool = False) -> None:
    """Record when the provider last finished a sync (and its staff list, if synced)."""
    values = {"last_synced_at": at} | ({"staff_synced_at": at} if staff else {})
    session.execute(update(_PROVIDER).where(_PROVIDER.c.id == provider_id).values(values))


def _closed_on(case: CasePayload) -> date | None:
    if case.ended_on is None or case.feedback_sent_on is None:
        return None
    return case.feedback_sent_on + timedelta(days=CLOSE_AFTER_FEEDBACK_DAYS)


def is_open(case: CasePayload, today: date) -> bool:
    """The case still needs evaluating on ``today`` (not closed; see the module docstring)."""
    closed_on = _closed_on(case)
    return closed_on is None or closed_on > today


def _changed(
    session: Session, collection: PagedCollection, provider_id: str, refs: Iterable[str]
) -> dict[str, str]:
    """Stored content hashes for ``refs`` (one SELECT, built once a collection)."""
    rows = session.execute(
        _stored_hashes(collection), {"provider_id": provider_id, "refs": list(refs)}
    )
    return {str(ref): str(digest) for ref, digest in rows}


@cache
def _stored_hashes(collection: PagedCollection) -> Select[tuple[str, str]]:
    model, key = _PAGED[collection]
    table: Table = model.__table__
    return select(table.c[key], table.c.content_hash).where(
        table.c.provider_id == bindparam("provider_id"),
        table.c[key].in_(bindparam("refs", expanding=True)),
    )


class _Row(NamedTuple, Generic[_Payload]):
    """One item of a page: the validated payload, its canonical JSON and that text's hash."""

    payload: _Payload
    raw: str
    digest: str


def _page_rows(
    items: Sequence[tuple[_Payload, object]], key_of: Callable[[_Payload], str]
) -> dict[str, _Row[_Payload]]:
    """The page's items by key (the first of identical duplicates wins)."""
    rows: dict[str, _Row[_Payload]] = {}
    for payload, raw in items:
        text = canonical(raw)
        rows.setdefault(key_of(payload), _Row(payload, text, content_hash(text)))
    return rows


#: Each paged collection's table model and key field.
_PAGED: dict[str, tuple[Any, str]] = {"cases": (Case, "case_ref"), "audits": (Audit, "audit_id")}


def page_rows(
    collection: PagedCollection, items: Sequence[tuple[Any, object]]
) -> dict[str, _Row[Any]]:
    """A page's valid items by key, with their canonical text and its hash (made once a
    page: :func:`changed_refs` before the page's transaction, the store inside it)."""
    return _page_rows(items, attrgetter(_PAGED[collection][1]))


def changed_refs(
    *,
    session: Session,
    collection: PagedCollection,
    provider_id: str,
    rows: Mapping[str, _Row[Any]],
) -> list[str]:
    """The keys of a page's cases or audits (:func:`page_rows`) that differ from what is
    stored, sorted: what :func:`store_cases` / :func:`store_audits` store.

    Read ahead of the page's transaction, another writer may store some of them
    meanwhile: the store functions read again inside it.
    """
    stored = _changed(session, collection, provider_id, rows)
    return sorted(ref for ref, row in rows.items() if stored.get(ref) != row.digest)


def store_cases(
    *,
    session: Session,
    provider_id: str,
    items: Sequence[tuple[CasePayload, object]],
    received_at: datetime,
    rows: Mapping[str, _Row[CasePayload]] | None = None,
) -> PageCounts:
    """Upsert one page of valid cases (payload, raw item) and keep every new revision.

    ``rows``: the items' :func:`page_rows`, when the caller made them already.
    """
    rows = page_rows("cases", items) if rows is None else rows
    changed = changed_refs(session=session, collection="cases", provider_id=provider_id, rows=rows)
    counts = PageCounts(
        stored=len(changed), unchanged=len(items) - len(changed), changed=tuple(changed)
    )
    if not changed:
        return counts
    revision_ids = _store_revisions(session, provider_id, rows, changed, received_at)
    case_rows = []
    for ref in changed:
        row = rows[ref]
        case = row.payload
        case_rows.append({
            "provider_id": provider_id, "case_ref": ref, "service": case.service,
            "office_id": case.office_id, "coach_id": case.coach_id, "language": case.language,
            "decision_received_on": case.decision_received_on,
            "first_meeting_on": case.first_meeting_on,
            "workplace_phase_started_on": case.workplace_phase_started_on,
            "ended_on": case.ended_on, "end_reason": case.end_reason,
            "feedback_sent_on": case.feedback_sent_on, "closed_on": _closed_on(case),
            "revision_id": revision_ids[ref, row.digest], "content_hash": row.digest,
            "updated_at": case.updated_at, "first_seen_at": received_at,
            "last_changed_at": received_at,
        })  # fmt: skip
    _upsert(session, Case.__table__, case_rows, ("provider_id", "case_ref"), "first_seen_at")  # type: ignore[attr-defined]
    return counts


def _store_revisions(
    session: Session,
    provider_id: str,
    rows: Mapping[str, _Row[CasePayload]],
    changed: Sequence[str],
    received_at: datetime,
) -> dict[tuple[str, str], int]:
    """Keep each changed case's payload as a revision (the only copy of its raw JSON);
    the ids of the revisions by (case_ref, content_hash), old ones included."""
    table: Table = CaseRevision.__table__  # type: ignore[attr-defined]
    revision_rows = [
        {
            "provider_id": provider_id,
            "case_ref": ref,
            "content_hash": rows[ref].digest,
            "raw": rows[ref].raw,
            "updated_at": rows[ref].payload.updated_at,
            "received_at": received_at,
        }
        for ref in changed
    ]
    insert_dicts(
        session,
        _insert(session, table).on_conflict_do_nothing(
            index_elements=["provider_id", "case_ref", "content_hash"]
        ),
        revision_rows,
    )
    found = session.execute(
        select(table.c.case_ref, table.c.content_hash, table.c.id).where(
            table.c.provider_id == provider_id, table.c.case_ref.in_(list(changed))
        )
    )
    return {(ref, digest): revision_id for ref, digest, revision_id in found}


def _upsert(
    session: Session, table: Table, rows: list[dict[str, Any]], keys: tuple[str, ...], *keep: str
) -> None:
    """Insert rows; on a key conflict overwrite a differing, not newer stored row."""
    stmt = _insert(session, table)
    skip = {*keys, *keep, "id"}
    set_ = {name: stmt.excluded[name] for name in rows[0] if name not in skip}
    where = table.c.content_hash != stmt.excluded.content_hash
    if "updated_at" in table.c:  # an out-of-order older payload never replaces a newer one
        where = where & (table.c.updated_at <= stmt.excluded.updated_at)
    insert_dicts(
        session, stmt.on_conflict_do_update(index_elements=list(keys), set_=set_, where=where), rows
    )


def store_audits(
    *,
    session: Session,
    provider_id: str,
    items: Sequence[tuple[AuditPayload, object]],
    received_at: datetime,
    rows: Mapping[str, _Row[AuditPayload]] | None = None,
) -> PageCounts:
    """Upsert one page of valid audits; a changed audit's findings are rewritten.

    ``rows``: the items' :func:`page_rows`, when the caller made them already.
    """
    rows = page_rows("audits", items) if rows is None else rows
    changed = changed_refs(session=session, collection="audits", provider_id=provider_id, rows=rows)
    counts = PageCounts(stored=len(changed), unchanged=len(items) - len(changed))
    if not changed:
        return counts
    audit_rows = []
    finding_rows: list[dict[str, Any]] = []
    for ref in changed:
        audit, text, digest = rows[ref]
        audit_rows.append({
            "provider_id": provider_id, "audit_id": ref, "office_id": audit.office_id,
            "visit_on": audit.visit_on, "report_received_on": audit.report_received_on,
            "response_sent_on": audit.response_sent_on, "raw": text, "content_hash": digest,
            "updated_at": audit.updated_at, "first_seen_at": received_at,
            "last_changed_at": received_at,
        })  # fmt: skip
        finding_rows.extend({
            "provider_id": provider_id, "audit_id": ref, "finding_id": finding.finding_id,
            "severity": finding.severity, "area": finding.area,
            "safety_related": finding.safety_related, "corrected_on": finding.corrected_on,
        } for finding in audit.findings)  # fmt: skip
    _upsert(session, Audit.__table__, audit_rows, ("provider_id", "audit_id"), "first_seen_at")  # type: ignore[attr-defined]
    session.execute(
        delete(Finding).where(
            col(Finding.provider_id) == provider_id, col(Finding.audit_id).in_(changed)
        )
    )
    if finding_rows:
        table: Table = Finding.__table__  # type: ignore[attr-defined]
        insert_dicts(
            session,
            _insert(session, table).on_conflict_do_nothing(
                index_elements=["provider_id", "audit_id", "finding_id"]
            ),
            finding_rows,
        )
    return counts


@dataclass(frozen=True, slots=True)
class StaffChange:
    """What storing a staff list changes: the rows to write and the coaches to remove."""

    rows: tuple[dict[str, Any], ...]  # new or changed coaches, by coach id
    gone: tuple[str, ...]  # stored coaches the list no longer has
    unchanged: int  # listed items already stored as they are (or not storable)

    @property
    def empty(self) -> bool:
        return not self.rows and not self.gone


_COACH: Table = Coach.__table__  # type: ignore[attr-defined]
_STAFF_HASHES = select(_COACH.c.coach_id, _COACH.c.content_hash).where(
    _COACH.c.provider_id == bindparam("provider_id")
)


def staff_change(
    *,
    session: Session,
    provider_id: str,
    items: Sequence[tuple[CoachPayload, object]],
    listed_ids: Iterable[str],
    synced_at: datetime,
) -> StaffChange:
    """Compare the provider's staff list with the stored one (one SELECT, no writes).

    ``listed_ids`` are all ids in the response, valid or not: a coach whose new payload
    was rejected keeps its last valid row instead of disappearing.
    """
    rows: dict[str, dict[str, Any]] = {}
    for coach, raw in items:
        text = canonical(raw)
        rows.setdefault(coach.id, {
            "provider_id": provider_id, "coach_id": coach.id, "office_id": coach.office_id,
            "active": coach.active, "raw": text, "content_hash": content_hash(text),
            "synced_at": synced_at,
        })  # fmt: skip
    found = session.execute(_STAFF_HASHES, {"provider_id": provider_id})
    stored = {str(ref): str(digest) for ref, digest in found}
    keep = set(listed_ids) | set(rows)
    changed = [rows[ref] for ref in sorted(rows) if stored.get(ref) != rows[ref]["content_hash"]]
    return StaffChange(
        rows=tuple(changed),
        gone=tuple(sorted(set(stored) - keep)),
        unchanged=len(items) - len(changed),
    )


def replace_coaches(*, session: Session, provider_id: str, change: StaffChange) -> PageCounts:
    """Make the stored staff list equal the provider's (:func:`staff_change`, read in the
    same transaction or just before it: an idempotent full replace either way)."""
    if change.gone:
        session.execute(
            delete(Coach).where(
                col(Coach.provider_id) == provider_id, col(Coach.coach_id).in_(change.gone)
            )
        )
    if change.rows:
        _upsert(session, Coach.__table__, list(change.rows), ("provider_id", "coach_id"))  # type: ignore[attr-defined]
    return PageCounts(stored=len(change.rows) + len(change.gone), unchanged=change.unchanged)


def store_rejected(
    *,
    session: Session,
    provider_id: str,
    rejected: Sequence[Rejected],
    received_at: datetime,
    sync_run_id: int | None,
) -> int:
    """Save invalid items with every error; an identical one already saved is kept once."""
    if not rejected:
        return 0
    rows = []
    for item in rejected:
        text = withhold(canonical_json(item.raw))  # identity codes never kept, even here
        rows.append({
            "provider_id": provider_id, "kind": item.kind,
            "ref": None if item.ref is None else safe_text(str(item.ref))[:200], "raw": text,
            "content_hash": content_hash(text),
            "errors": [withhold(safe_text(e)) for e in item.errors],
            "received_at": received_at, "sync_run_id": sync_run_id,
        })  # fmt: skip
    table: Table = RejectedPayload.__table__  # type: ignore[attr-defined]
    stmt = _insert(session, table).on_conflict_do_nothing(
        index_elements=["provider_id", "kind", "content_hash"]
    )
    session.execute(stmt, rows)
    return len(rejected)


def purge_rejected(*, session: Session, before: datetime) -> int:
    """Delete the rejected payloads received before ``before`` (past their retention)."""
    table: Table = RejectedPayload.__table__  # type: ignore[attr-defined]
    result = session.execute(delete(table).where(table.c.received_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def start_sync_run(*, session: Session, provider_id: str, started_at: datetime, full: bool) -> int:
    """Record a sync as running; returns its id."""
    stmt = _SYNC_RUN.insert().values(
        provider_id=provider_id, started_at=started_at, full=full, status="running",
        fetched=0, stored=0, unchanged=0, rejected=0,
    )  # fmt: skip
    return int(session.execute(stmt.returning(_SYNC_RUN.c.id)).scalar_one())


def finish_sync_run(
    *,
    session: Session,
    run_id: int,
    finished_at: datetime,
    status: Literal["succeeded", "failed"],
    fetched: int,
    counts: PageCounts,
    error: str | None = None,
) -> None:
    """Record how a sync ended and what it counted."""
    session.execute(
        update(_SYNC_RUN)
        .where(_SYNC_RUN.c.id == run_id)
        .values(
            finished_at=finished_at, status=status, fetched=fetched, stored=counts.stored,
            unchanged=counts.unchanged, rejected=counts.rejected, error=error,
        )
    )  # fmt: skip
