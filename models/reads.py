"""Reading provider data back: stored cases, audits and staff as validated payloads.

The raw JSON stored by :mod:`models.store` is parsed again with the wire models, so the
engine sees exactly what the provider sent (a case's current raw JSON is its revision's).
Open cases: see :mod:`models.store`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import bindparam, or_, select
from sqlmodel import Session, col

from contract.payloads import AuditPayload, CasePayload, CoachPayload
from models.provider_data import (
    Audit,
    Case,
    CaseRevision,
    Coach,
    Provider,
    RejectedPayload,
    SyncRun,
)

log = logging.getLogger("vahti.store")
_REFS_CHUNK = 500  # refs per IN list (SQLite allows at most 32 766 parameters)

_Payload = TypeVar("_Payload", bound=BaseModel)


def _parse_all(model: type[_Payload], raws: Sequence[str]) -> list[_Payload]:
    """Validate stored raw JSON. An item stored before the contract grew stricter (an id
    outside today's character set, say) is left out with a warning instead of failing the
    provider's whole evaluation; it stays stored (docs/operations.md, "Upgrading")."""
    parse = model.model_validate_json
    try:
        return [parse(raw) for raw in raws]
    except ValidationError:
        pass  # rare: read them one by one below, to keep the others
    found: list[_Payload] = []
    for raw in raws:
        try:
            found.append(parse(raw))
        except ValidationError:
            continue
    log.warning(
        "%d stored %s item(s) no longer pass the contract's validation: left out",
        len(raws) - len(found),
        model.__name__,
    )
    return found


def latest_sync_runs(*, session: Session, provider_id: str, limit: int = 10) -> list[SyncRun]:
    """The provider's most recent sync runs, newest first."""
    query = (
        select(SyncRun)
        .where(col(SyncRun.provider_id) == provider_id)
        .order_by(col(SyncRun.started_at).desc(), col(SyncRun.id).desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def load_cases(
    *,
    session: Session,
    provider_id: str,
    only_open: bool = True,
    today: date | None = None,
    changed_since: datetime | None = None,
    refs: Sequence[str] | None = None,
) -> list[CasePayload]:
    """The provider's stored cases, validated from their raw JSON, ordered by case_ref.

    ``only_open`` skips cases closed on or before ``today`` (default: the date of the
    provider's last finished sync, so the answer depends only on the stored data).
    ``changed_since`` keeps only cases stored or changed after that moment (what an
    incremental evaluation needs); ``refs`` keeps only those case refs.
    """
    revision = CaseRevision.__table__  # type: ignore[attr-defined]
    query = (
        select(revision.c.raw)
        .select_from(Case)
        .join(revision, revision.c.id == col(Case.revision_id))
        .where(col(Case.provider_id) == provider_id)
    )
    if only_open:
        if today is None:
            provider = session.get(Provider, provider_id)
            synced = provider.last_synced_at if provider else None
            today = synced.date() if synced else None
        if today is not None:
            query = query.where(or_(col(Case.closed_on).is_(None), col(Case.closed_on) > today))
    if changed_since is not None:
        query = query.where(col(Case.last_changed_at) > changed_since)
    query = query.order_by(col(Case.case_ref))
    if refs is None:
        return _parse_all(CasePayload, session.scalars(query).all())
    wanted = sorted(set(refs))  # sorted, disjoint chunks keep the case_ref order
    raws: list[str] = []
    for start in range(0, len(wanted), _REFS_CHUNK):
        chunk = wanted[start : start + _REFS_CHUNK]
        raws.extend(session.scalars(query.where(col(Case.case_ref).in_(chunk))).all())
    return _parse_all(CasePayload, raws)


def case_raw(*, session: Session, provider_id: str, case_ref: str) -> str | None:
    """The raw JSON of the case's current state, or None for an unknown case."""
    revision = CaseRevision.__table__  # type: ignore[attr-defined]
    query = (
        select(revision.c.raw)
        .select_from(Case)
        .join(revision, revision.c.id == col(Case.revision_id))
        .where(col(Case.provider_id) == provider_id, col(Case.case_ref) == case_ref)
    )
    raw: str | None = session.scalar(query)
    return raw


_AUDIT = Audit.__table__  # type: ignore[attr-defined]
_AUDITS = (
    select(_AUDIT.c.raw)
    .where(_AUDIT.c.provider_id == bindparam("provider_id"))
    .order_by(_AUDIT.c.audit_id)
)


def load_audits(*, session: Session, provider_id: str) -> list[AuditPayload]:
    """The provider's stored audits (with findings), ordered by audit_id."""
    raws = session.scalars(_AUDITS, {"provider_id": provider_id}).all()
    return _parse_all(AuditPayload, raws)


def load_coaches(*, session: Session, provider_id: str) -> list[CoachPayload]:
    """The provider's current staff list, ordered by coach id."""
    return load_staff(session=session, provider_ids=[provider_id])


@dataclass(frozen=True, slots=True)
class StaffState:
    """A provider's stored staff list: each coach's content hash (what its due dates depend
    on) and the parsed payloads, ordered by coach id."""

    hashes: tuple[tuple[str, str], ...]
    coaches: list[CoachPayload]


_COACH = Coach.__table__  # type: ignore[attr-defined]
_STAFF_STATE = (
    select(_COACH.c.coach_id, _COACH.c.content_hash, _COACH.c.raw)
    .where(_COACH.c.provider_id == bindparam("provider_id"))
    .order_by(_COACH.c.coach_id)
)


def staff_state(*, session: Session, provider_id: str) -> StaffState:
    """The provider's staff hashes and payloads in one read (the evaluation's start)."""
    rows = session.execute(_STAFF_STATE, {"provider_id": provider_id}).all()
    return StaffState(
        hashes=tuple((str(ref), str(digest)) for ref, digest, _ in rows),
        coaches=_parse_all(CoachPayload, [raw for _, _, raw in rows]),
    )


def staff_known(*, session: Session, provider_id: str) -> bool:
    """The provider's staff list has been read at least once (an empty list is data too:
    rules.md decision 8)."""
    synced_at = session.execute(
        select(col(Provider.staff_synced_at)).where(col(Provider.id) == provider_id)
    ).scalar_one_or_none()
    return synced_at is not None


def load_staff(*, session: Session, provider_ids: Iterable[str]) -> list[CoachPayload]:
    """The staff lists of these providers, ordered by provider and coach id (one query per
    :data:`_REFS_CHUNK` providers)."""
    chosen = sorted(set(provider_ids))
    order = (col(Coach.provider_id), col(Coach.coach_id))
    raws: list[str] = []
    for start in range(0, len(chosen), _REFS_CHUNK):
        query = select(col(Coach.raw)).where(
            col(Coach.provider_id).in_(chosen[start : start + _REFS_CHUNK])
        )
        raws += session.scalars(query.order_by(*order)).all()
    return _parse_all(CoachPayload, raws)


def load_staff_by_provider(
    *, session: Session, provider_ids: Iterable[str]
) -> dict[str, list[CoachPayload]]:
    """The staff lists of these providers, each under its provider's id (a coach id is the
    provider's own: ``c-001`` at two providers is two people)."""
    chosen = sorted(set(provider_ids))
    found: dict[str, list[CoachPayload]] = {provider_id: [] for provider_id in chosen}
    order = (col(Coach.provider_id), col(Coach.coach_id))
    parse = CoachPayload.model_validate_json
    for start in range(0, len(chosen), _REFS_CHUNK):
        query = select(col(Coach.provider_id), col(Coach.raw)).where(
            col(Coach.provider_id).in_(chosen[start : start + _REFS_CHUNK])
        )
        for provider_id, raw in session.execute(query.order_by(*order)):
            found[provider_id].append(parse(raw))
    return found


def list_rejected(
    *, session: Session, provider_id: str | None = None, limit: int = 100
) -> list[RejectedPayload]:
    """Rejected payloads, newest first (all providers unless one is given)."""
    query = select(RejectedPayload)
    if provider_id is not None:
        query = query.where(col(RejectedPayload.provider_id) == provider_id)
    query = query.order_by(col(RejectedPayload.received_at).desc(), col(RejectedPayload.id).desc())
    return list(session.scalars(query.limit(limit)))
