"""Pull a provider's cases, audits and staff into the store, page by page.

Staff first, then audits, then cases. For each page: validate every item
(``contract.validate``), read which items differ from what is stored (a page with nothing
new, nothing rejected and no newer watermark ends there, without a write transaction),
store the valid ones and the rejected ones with their errors,
advance the collection's watermark, let an observer (the compliance check's
evaluation) see the cases just stored, and commit - all in one transaction. The
observer sees each page of cases once before that transaction too, to do its work
without holding the database's writer lock (other processes write meanwhile). A crash
therefore loses nothing already committed, and the next run resumes from the stored
watermark (the greatest stored ``updated_at``, sent as the inclusive ``updated_since``;
the items re-read at the boundary are unchanged upserts).
``full=True`` omits ``updated_since`` and re-reads everything (still idempotent).

Memory stays bounded by one page whatever the provider's size (and a page by
``max_body_bytes``). One collection's failure is recorded and the other collections still
run; :func:`sync_all` runs every provider even when some fail. Every sync is recorded as
a ``sync_run`` row, and ends recorded whatever happened: an unexpected exception from one
provider's data is that collection's recorded error, never a traceback that stops the
others or leaves the row ``running``. A whole sync stops at the first request after
``sync_timeout_seconds`` (a page boundary), keeping what was stored.

An item whose ``updated_at`` is more than ``clock_skew_seconds`` ahead of the sync's clock
is rejected (its error says so) and never becomes a watermark: one bad clock at a
provider cannot hide every later change from the incremental checks. Every secret
Vahti knows is redacted from the provider's text before any of it is parsed
(:class:`core.redact.Redactor`, built from the settings).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, ValidationError
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from contract.payloads import CasePayload
from contract.rejected import Rejected, RejectedKind
from contract.validate import validate_audits, validate_cases, validate_staff
from core.config import ProviderSettings, Settings
from core.errors import (
    ConfigError,
    PermanentProviderError,
    ProviderError,
    StoreError,
    TransientProviderError,
    VahtiError,
    first_line,
)
from core.redact import Redactor, known_secrets
from models import store
from models.db import read_scope, session_scope, shared_engine
from providers.client import Page, PagedCollection, ProviderClient, refuse

log = logging.getLogger("vahti.providers")
Clock = Callable[[], datetime]
CollectionName = Literal["cases", "audits", "staff"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class CollectionCounts:
    """What one collection's sync did."""

    fetched: int = 0
    stored: int = 0
    unchanged: int = 0
    rejected: int = 0
    pages: int = 0
    since: str | None = None  # the watermark asked from (None: everything)


@dataclass(slots=True)
class SyncReport:
    """One provider's sync: totals, per-collection counts, failures (none = success).

    ``failures`` keep each error's type (a retry decides on it); ``errors`` are their
    one-line texts, as stored on the sync run and shown.
    """

    id: str
    failures: list[tuple[str, VahtiError]] = field(default_factory=list)  # (where, error)
    collections: dict[str, CollectionCounts] = field(default_factory=dict)
    duration_seconds: float = 0.0
    run_id: int | None = None

    def _total(self, name: str) -> int:
        return sum(getattr(counts, name) for counts in self.collections.values())

    @property
    def fetched(self) -> int:
        """Items received."""
        return self._total("fetched")

    @property
    def stored(self) -> int:
        """New or changed items saved."""
        return self._total("stored")

    @property
    def unchanged(self) -> int:
        """Items identical to what was stored."""
        return self._total("unchanged")

    @property
    def rejected(self) -> int:
        """Invalid items saved to rejected payloads."""
        return self._total("rejected")

    @property
    def errors(self) -> list[str]:
        """Each failure in one line, naming where it happened."""
        return [f"{where}: {error}" if where else str(error) for where, error in self.failures]

    @property
    def transient(self) -> bool:
        """True when it failed, and only on errors that may pass by themselves."""
        return bool(self.failures) and all(
            isinstance(error, TransientProviderError) for _, error in self.failures
        )

    @property
    def ok(self) -> bool:
        """True when every collection synced without error."""
        return not self.failures

    def to_json(self) -> dict[str, object]:
        """The CLI contract shape (plus per-collection counts and the duration)."""
        return {
            "id": self.id,
            "fetched": self.fetched,
            "stored": self.stored,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "errors": list(self.errors),
            "collections": {name: asdict(counts) for name, counts in self.collections.items()},
            "duration_seconds": round(self.duration_seconds, 3),
        }


_VALIDATORS: dict[str, Callable[[list[Any]], tuple[Sequence[Any], Sequence[Any]]]] = {
    "cases": validate_cases,
    "audits": validate_audits,
    "staff": validate_staff,
}
_REF_FIELD = {"cases": "case_ref", "audits": "audit_id", "staff": "id"}
_KIND: dict[str, RejectedKind] = {"cases": "case", "audits": "audit", "staff": "coach"}


def _too_large(text: str, limit: int) -> int | None:
    """The UTF-8 size of ``text`` when it is over ``limit`` bytes, else None (no encoding for
    a text too short to be over it)."""
    if len(text) * 4 <= limit:
        return None
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return size if size > limit else None


def bounded(rejected: list[Rejected], limit: int) -> list[Rejected]:
    """Rejected items with any raw larger than ``limit`` bytes as JSON cut to an excerpt."""
    kept: list[Rejected] = []
    for item in rejected:
        text = store.canonical_json(item.raw)
        size = _too_large(text, limit)
        if size is None:
            kept.append(item)
            continue
        error = f"the item is {size} bytes as JSON, more than max_item_bytes={limit}"
        raw = refuse(item.raw, text, error).raw
        kept.append(Rejected(item.kind, item.ref, (*item.errors, error), raw))
    return kept


def _pair_with_raw(
    collection: str,
    valid: Sequence[BaseModel],
    raw_items: list[Any],
    *,
    strict: bool = False,
    limit: int | None = None,
) -> tuple[list[tuple[Any, object]], list[Rejected]]:
    """Each valid payload with the raw item it came from (to store the raw JSON).

    A valid payload whose text cannot be stored in a column (NUL, lone surrogate) is
    rejected here instead, so it cannot block the rest of its page.
    """
    key = _REF_FIELD[collection]
    by_ref: dict[object, list[object]] = {}
    for item in raw_items:
        if isinstance(item, dict) and isinstance(item.get(key), str):  # a list ref is unhashable
            by_ref.setdefault(item[key], []).append(item)
    pairs: list[tuple[Any, object]] = []
    refused: list[Rejected] = []
    for payload in valid:
        candidates = by_ref.get(getattr(payload, key), [])
        raw: object = candidates[0] if candidates else payload.model_dump(mode="json")
        if len(candidates) > 1:  # duplicates in one page: take the one that validated so
            for candidate in candidates:
                try:
                    if type(payload).model_validate(candidate) == payload:
                        raw = candidate
                        break
                except ValidationError:
                    continue
        text = store.canonical(raw, strict=strict)  # made once here, reused by the store
        reason, raw = _unfit(payload, raw, text, limit)
        if reason is None:
            pairs.append((payload, text))
        else:
            ref = store.safe_text(str(getattr(payload, key)))
            refused.append(Rejected(_KIND[collection], ref, (reason,), raw))
    return pairs, refused


def _unfit(
    payload: BaseModel, raw: object, text: str, limit: int | None
) -> tuple[str | None, object]:
    """Why a valid item cannot be stored (too large, unstorable text), and the raw to keep."""
    size = None if limit is None else _too_large(text, limit)
    if size is not None:
        reason = f"the item is {size} bytes as JSON, more than max_item_bytes={limit}"
        return reason, refuse(raw, text, reason).raw
    if store.may_be_unstorable(text):  # rare: the exact checks
        return store.unstorable(payload) or _unreadable(type(payload), text), raw
    return None, raw


def _unreadable(model: type[BaseModel], text: str) -> str | None:
    """Why the stored raw text could not be read back (a lone surrogate in an ignored field)."""
    try:
        model.model_validate_json(text)
    except ValidationError:
        return "raw item: contains an invalid code point (a lone surrogate) in some field"
    return None


def _refused(collection: str, page: Page) -> list[Rejected]:
    """The items the client refused (too large, unsafe numbers) as rejected items: their
    stored raw is a bounded excerpt with the item's size and hash."""
    key = _REF_FIELD[collection]
    return [
        Rejected(_KIND[collection], item.refs.get(key), (item.error,), item.raw)
        for item in page.refused
    ]


class CasesObserver(Protocol):
    """Told about each page of cases: before its transaction, then inside it (sync_provider)."""

    def begin(self) -> None:
        """The staff list and audits are synced; the first page of cases comes next."""

    def page_received(self, items: Sequence[tuple[CasePayload, object]]) -> object:
        """A page's new or changed valid cases (payload, raw), before its transaction:
        work done here holds no writer lock. The result goes to :meth:`cases_stored`."""

    def cases_stored(
        self, session: Session, cases: Sequence[CasePayload], received: object
    ) -> None:
        """These valid cases of a page were just stored (new or changed); still uncommitted."""


class _Syncer:
    """One provider's sync against one engine (internal: see :func:`sync_provider`)."""

    def __init__(
        self,
        engine: Engine,
        provider: ProviderSettings,
        run_id: int,
        clock: Clock,
        *,
        observer: CasesObserver | None = None,
        watermarks: dict[str, datetime | None] | None = None,
    ) -> None:
        self.engine = engine
        self.provider = provider
        self.run_id = run_id
        self.clock = clock
        self.observer = observer
        self.watermarks = watermarks or {}  # read when the run started
        self.staff_synced_at: datetime | None = None  # when the staff list was stored

    def paged(
        self,
        client: ProviderClient,
        collection: PagedCollection,
        counts: CollectionCounts,
        *,
        full: bool,
        tick: Callable[[int], None],
    ) -> None:
        pid = self.provider.id
        observer = self.observer if collection == "cases" else None
        if observer is not None:
            observer.begin()
        mark = self.watermarks.get(collection)
        since = None if full else mark
        updated_since = since.isoformat() if since else None
        counts.since = updated_since  # the check's summary line says it
        log.debug("provider %r: syncing %s since %s", pid, collection, updated_since or "start")
        for page in client.iter_pages(collection, updated_since=updated_since):
            valid, rejected = _VALIDATORS[collection](page.items)
            valid, ahead = self._not_ahead(collection, valid, page.items)
            limit = self.provider.max_item_bytes
            pairs, refused = _pair_with_raw(
                collection, valid, page.items, strict=page.strict, limit=limit
            )
            rejected = [*bounded([*rejected, *ahead], limit), *refused, *_refused(collection, page)]
            counts.pages += 1
            counts.fetched += len(page.items) + len(page.refused)
            newest = max((payload.updated_at for payload, _ in pairs), default=None)
            rows = store.page_rows(collection, pairs)
            changed = self._changed(collection, rows)
            if not changed and not rejected and (newest is None or (mark and newest <= mark)):
                counts.unchanged += len(pairs)  # what is stored already: nothing to write
                tick(len(page.items))
                continue
            received = None
            if observer is not None and changed:
                received = observer.page_received([p for p in pairs if p[0].case_ref in changed])
            now = self.clock()
            with session_scope(self.engine) as session:
                write = store.store_cases if collection == "cases" else store.store_audits
                result = write(
                    session=session, provider_id=pid, items=pairs, received_at=now, rows=rows
                )
                result.rejected = store.store_rejected(
                    session=session,
                    provider_id=pid,
                    rejected=rejected,
                    received_at=now,
                    sync_run_id=self.run_id,
                )
                if newest is not None:
                    store.advance_watermark(
                        session=session, provider_id=pid, collection=collection, updated_at=newest
                    )
                if observer is not None and result.changed:
                    by_ref = {payload.case_ref: payload for payload, _ in pairs}
                    stored = [by_ref[ref] for ref in result.changed]
                    observer.cases_stored(session, stored, received)
            counts.stored += result.stored
            counts.unchanged += result.unchanged
            counts.rejected += result.rejected
            tick(len(page.items))

    def _not_ahead(
        self, collection: str, valid: Sequence[Any], raw_items: list[Any]
    ) -> tuple[Sequence[Any], list[Rejected]]:
        """The valid items, without those whose ``updated_at`` is ahead of the clock plus the
        allowed skew (rejected: such a value must never become the watermark)."""
        horizon = self.clock() + timedelta(seconds=self.provider.clock_skew_seconds)
        if all(payload.updated_at <= horizon for payload in valid):
            return valid, []
        key = _REF_FIELD[collection]
        kept: list[Any] = []
        ahead: list[Rejected] = []
        for payload in valid:
            if payload.updated_at <= horizon:
                kept.append(payload)
                continue
            ref = str(getattr(payload, key))
            raw = next(
                (i for i in raw_items if isinstance(i, dict) and i.get(key) == ref),
                payload.model_dump(mode="json"),
            )
            error = (
                f"updated_at {payload.updated_at.isoformat()} is more than "
                f"{self.provider.clock_skew_seconds:g} s ahead of Vahti's clock "
                f"({horizon.isoformat()} allowed): not stored, never a watermark"
            )
            ahead.append(Rejected(_KIND[collection], store.safe_text(ref), (error,), raw))
        return kept, ahead

    def _changed(self, collection: PagedCollection, rows: Mapping[str, Any]) -> set[str]:
        """The page's items that differ from what is stored, read before its transaction."""
        if not rows:
            return set()
        with read_scope(self.engine) as session:
            refs = store.changed_refs(
                session=session, collection=collection, provider_id=self.provider.id, rows=rows
            )
        return set(refs)

    def staff(self, client: ProviderClient, counts: CollectionCounts) -> None:
        """The staff list, compared before any write: an unchanged list (most days) takes no
        write transaction; when it was synced is recorded with the run's end (_finish)."""
        page = client.staff_page()
        items = page.items
        valid, rejected = validate_staff(items)
        limit = self.provider.max_item_bytes
        pairs, refused = _pair_with_raw("staff", valid, items, limit=limit)
        rejected = [*bounded(rejected, limit), *refused, *_refused("staff", page)]
        listed = [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]
        now = self.clock()
        with read_scope(self.engine) as session:
            change = store.staff_change(
                session=session,
                provider_id=self.provider.id,
                items=pairs,
                listed_ids=listed,
                synced_at=now,
            )
        if change.empty and not rejected:
            result = store.PageCounts(unchanged=change.unchanged)
        else:
            with session_scope(self.engine) as session:
                result = store.replace_coaches(
                    session=session, provider_id=self.provider.id, change=change
                )
                result.rejected = store.store_rejected(
                    session=session,
                    provider_id=self.provider.id,
                    rejected=rejected,
                    received_at=now,
                    sync_run_id=self.run_id,
                )
        self.staff_synced_at = now
        counts.pages = 1
        counts.fetched = len(items) + len(page.refused)
        counts.stored = result.stored
        counts.unchanged = result.unchanged
        counts.rejected = result.rejected


def _progress(enabled: bool) -> AbstractContextManager[Progress | None]:
    if enabled and sys.stdout.isatty():
        return Progress(
            SpinnerColumn(finished_text="[green]done"),
            TextColumn("{task.description}"),
            TextColumn("{task.completed} items"),
            TimeElapsedColumn(),
            transient=False,
        )
    return nullcontext(None)


@contextmanager
def _engine_for(settings: Settings, engine: Engine | None) -> Iterator[Engine]:
    yield engine if engine is not None else shared_engine(settings.database.url)


def sync_provider(
    settings: Settings,
    provider_id: str,
    *,
    full: bool = False,
    progress: bool = False,
    transport: httpx.BaseTransport | None = None,
    engine: Engine | None = None,
    clock: Clock = _utc_now,
    observer: CasesObserver | None = None,
) -> SyncReport:
    """Sync one provider; failures are recorded in the report, not raised.

    ``observer`` sees every page of cases before its transaction and the page's stored
    cases inside it (the compliance check evaluates a page before, stores the deadlines
    inside: the cases are never read back).
    Raises ConfigError for an unknown provider id and StoreError when the database
    cannot be used at all (wrong schema version, unreachable).
    """
    provider = settings.provider(provider_id)
    redactor = Redactor(known_secrets(settings))
    with _engine_for(settings, engine) as db, _progress(progress) as bar:
        return _run(
            db,
            provider,
            full=full,
            transport=transport,
            clock=clock,
            bar=bar,
            observer=observer,
            redactor=redactor,
        )


def _run(
    engine: Engine,
    provider: ProviderSettings,
    *,
    full: bool,
    transport: httpx.BaseTransport | None,
    clock: Clock,
    bar: Progress | None,
    observer: CasesObserver | None = None,
    redactor: Redactor | None = None,
) -> SyncReport:
    started = time.monotonic()
    report = SyncReport(id=provider.id)
    redactor = redactor or Redactor()
    try:
        with session_scope(engine) as session:
            marks = store.ensure_provider(
                session=session, provider_id=provider.id, name=provider.name, now=clock()
            )
            report.run_id = store.start_sync_run(
                session=session, provider_id=provider.id, started_at=clock(), full=full
            )
    except SQLAlchemyError as exc:
        raise StoreError(f"provider {provider.id!r}: cannot record the sync run: {exc}") from exc
    syncer = _Syncer(engine, provider, report.run_id, clock, observer=observer, watermarks=marks)
    finished = False
    try:
        try:
            token = provider.token()
        except ConfigError as exc:
            report.failures.append(("", exc))
        else:
            redactor = redactor.with_secret(token)
            deadline = started + provider.sync_timeout_seconds
            with ProviderClient(
                provider, token=token, transport=transport, redactor=redactor, deadline=deadline
            ) as client:
                _collections(syncer, client, report, full=full, bar=bar, redactor=redactor)
        report.duration_seconds = time.monotonic() - started
        _finish(engine, report, clock, staff_synced_at=syncer.staff_synced_at, redactor=redactor)
        finished = True
    finally:
        if not finished:  # interrupted (a timeout, Ctrl-C): the run must not stay `running`
            _abandon(engine, report, clock, redactor)
    for error in report.errors:
        log.error("provider %r: %s", provider.id, redactor.text(error))
    return report


def _collections(
    syncer: _Syncer,
    client: ProviderClient,
    report: SyncReport,
    *,
    full: bool,
    bar: Progress | None,
    redactor: Redactor,
) -> None:
    """Staff, audits, cases: each collection's failure is recorded, the next one still runs.

    Staff first: evaluating a page of cases as it is stored needs the current staff list.
    An exception no one expected from one collection's data (a bug the provider's data
    found) is recorded as that collection's permanent error, with its type.
    """
    collections: tuple[CollectionName, ...] = ("staff", "audits", "cases")
    for collection in collections:
        counts = report.collections.setdefault(collection, CollectionCounts())
        task = bar.add_task(f"{syncer.provider.id} {collection}") if bar else None

        def tick(n: int, task: Any = task) -> None:
            if bar is not None and task is not None:
                bar.advance(task, n)

        try:
            error = _one(syncer, client, collection, counts, full=full, tick=tick)
        except ProviderError as exc:
            report.failures.append((collection, exc))
            if exc.status in {401, 403}:
                break  # the same credentials would fail every other collection too
        except SQLAlchemyError as exc:
            error = StoreError(f"database error: {redactor.text(first_line(exc))}")
            report.failures.append((collection, error))
        else:
            if error is not None:
                report.failures.append((collection, error))
        finally:
            if bar is not None and task is not None:
                bar.update(task, total=counts.fetched, completed=counts.fetched)


def _one(
    syncer: _Syncer,
    client: ProviderClient,
    collection: CollectionName,
    counts: CollectionCounts,
    *,
    full: bool,
    tick: Callable[[int], None],
) -> VahtiError | None:
    """Sync one collection; an exception no one expected (a bug the provider's data found,
    never a traceback that stops the others) comes back as a permanent provider error."""
    try:
        match collection:
            case "staff":
                syncer.staff(client, counts)
                tick(counts.fetched)
            case "cases" | "audits":
                syncer.paged(client, collection, counts, full=full, tick=tick)
    except (ProviderError, SQLAlchemyError):
        raise
    except Exception as exc:  # the provider's boundary: recorded with its type, not raised
        log.debug("provider %r: %s failed unexpectedly", client.provider_id, collection,
                  exc_info=True)  # fmt: skip
        text = client.redact(f"unexpected {type(exc).__name__}: {first_line(exc)}")
        return PermanentProviderError(text, provider=client.provider_id, url=client.base_url)
    return None


def _finish(
    engine: Engine,
    report: SyncReport,
    clock: Clock,
    *,
    staff_synced_at: datetime | None,
    redactor: Redactor,
) -> None:
    """Record the run's end, and when the provider's staff list was synced (if it was)."""
    totals = store.PageCounts(report.stored, report.unchanged, report.rejected)
    if report.run_id is None:  # pragma: no cover - set by _run before any work
        return
    with session_scope(engine) as session:
        if staff_synced_at is not None:
            store.mark_synced(
                session=session, provider_id=report.id, at=staff_synced_at, staff=True
            )
        store.finish_sync_run(
            session=session,
            run_id=report.run_id,
            finished_at=clock(),
            status="succeeded" if report.ok else "failed",
            fetched=report.fetched,
            counts=totals,
            error=redactor.text("\n".join(report.errors)) or None,
        )


def _abandon(engine: Engine, report: SyncReport, clock: Clock, redactor: Redactor) -> None:
    """Record an interrupted sync as failed (best effort: the interruption goes on)."""
    if report.run_id is None:  # pragma: no cover - set by _run before any work
        return
    errors = [*report.errors, "interrupted before the sync finished"]
    try:
        with session_scope(engine) as session:
            store.finish_sync_run(
                session=session,
                run_id=report.run_id,
                finished_at=clock(),
                status="failed",
                fetched=report.fetched,
                counts=store.PageCounts(report.stored, report.unchanged, report.rejected),
                error=redactor.text("\n".join(errors)),
            )
    except (SQLAlchemyError, VahtiError):
        log.exception("provider %r: the interrupted sync run could not be recorded", report.id)


def sync_all(
    settings: Settings,
    *,
    provider_ids: Sequence[str] | None = None,
    full: bool = False,
    progress: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> list[SyncReport]:
    """Sync the given (default: all configured) providers, one after another.

    A provider's failure is recorded in its report and the others still run.
    """
    ids = list(provider_ids) if provider_ids else [p.id for p in settings.providers]
    providers = [settings.provider(pid) for pid in ids]  # unknown ids: ConfigError first
    redactor = Redactor(known_secrets(settings))
    reports: list[SyncReport] = []
    with _engine_for(settings, None) as engine, _progress(progress) as bar:
        for provider in providers:
            report = _run(
                engine,
                provider,
                full=full,
                transport=transport,
                clock=_utc_now,
                bar=bar,
                redactor=redactor,
            )
            reports.append(report)
    return reports
