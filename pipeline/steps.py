"""The plain steps Vahti's flows are made of: plain values in, small plain values out.

Each Prefect task in ``flows/`` wraps exactly one function here. A step opens what it
needs itself (settings, the process's pooled database engine, HTTP client, Apprise)
from the configuration path it is given, so tasks stay cacheable, retryable and cheap
to ship between processes. Results are summaries (:mod:`pipeline.summaries`): counts, plus
at most ``ROW_CAP`` rows for the operator tables, never whole datasets and never
personal data (case references, rule ids, dates and the engine's reasons only).

Provider steps take one of ``flows.provider_steps`` slots (default 3) per process:
Prefect's thread pool starts every submitted task at once, so 200 providers would
hold 200 pages in memory and queue 200 writers on one SQLite file; the work is bound
by one core (the GIL) anyway, and a few at once overlap the providers' network time.
The scheduled check sends :func:`check_step` to worker processes instead, one per core
plus one (:mod:`flows.workers`); a worker takes one provider at a time.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

import rules
from contract.payloads import CoachPayload
from core.config import Settings, load_settings
from core.errors import (
    DeliveryError,
    InputError,
    PermanentProviderError,
    TransientProviderError,
    VahtiError,
)
from core.process import release_memory
from models.db import read_scope, session_scope, shared_engine
from models.deadlines import store_deadlines
from models.reads import (
    latest_sync_runs,
    list_rejected,
    load_audits,
    load_cases,
    load_coaches,
)
from models.statistics import refresh_statistics
from notifications.counts import AlertPlanSummary
from notifications.dispatch import notify_operations
from notifications.outages import tell_outages
from notifications.planning import ALL_PROVIDERS
from notifications.policy import planned_when_stored
from notifications.service import notify
from notifications.write_ahead import plan_provider
from pipeline.evaluation import Outcome, ProviderEvaluation, evaluate_and_store
from pipeline.rows import DeadlineRow, RejectedRow, deadline_row
from pipeline.summaries import (
    ROW_CAP,
    CheckSummary,
    EvaluationSummary,
    NotifySummary,
    Overview,
    SyncSummary,
    overview,
    summarize,
    summarize_stored,
)
from providers.sync import SyncReport, sync_provider
from rules.deadline import Deadline

log = logging.getLogger("vahti.pipeline")

_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_guard = threading.Lock()


def provider_slot(settings: Settings) -> threading.BoundedSemaphore:
    """The process's semaphore for ``flows.provider_steps`` provider steps at once."""
    size = settings.flows.provider_steps
    with _slots_guard:
        return _slots.setdefault(size, threading.BoundedSemaphore(size))


# -- resources ------------------------------------------------------------------------


_settings_cache: dict[tuple[object, ...], Settings] = {}


def settings_from(config_path: str) -> Settings:
    """The settings in ``config_path`` (environment overrides applied), cached per version.

    Every step of a run reads the same file: parsed and validated once while neither the
    file (its size and modification time) nor any ``VAHTI_*`` variable changed. Callers
    must not change the object they get (copy it with ``model_copy`` instead).
    """
    path = Path(config_path)
    try:
        stat = path.stat()
        version: tuple[object, ...] = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        version = ()
    environ = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("VAHTI_")))
    key = (str(path.resolve()), version, environ)
    cached = _settings_cache.get(key)
    if cached is None:
        cached = load_settings(path)
        if len(_settings_cache) > 32:
            _settings_cache.clear()
        _settings_cache[key] = cached
    return cached


@contextmanager
def open_engine(settings: Settings) -> Iterator[Engine]:
    """The store's engine (this process's shared one: migrated when empty, checked once)."""
    yield shared_engine(settings.database.url)


# -- steps ------------------------------------------------------------------------------


def evaluation_mode(outcome: Outcome) -> str:
    """How the check's log line names the evaluation: incremental, or complete and why
    (after an upgrade: "complete: rules or packs changed")."""
    return f"complete: {outcome.why}" if outcome.complete else "incremental"


def check_step(
    config_path: str,
    provider_id: str,
    today_on: str,
    *,
    full: bool = False,
    rows: bool = False,
    notify_at: str | None = None,
    recipients_checked: bool = False,
) -> CheckSummary:
    """Sync one provider and evaluate it on ``today_on``: the scheduled check's step.

    Each page of cases is evaluated as it is stored, in the page's transaction, while
    the validated payloads are in memory; afterwards only what the pages did not bring
    is read back (cases whose status moves with the date, cases closed since, all of
    them when the rules or the staff changed). Raises ProviderError naming the provider
    when the sync did not complete (its evaluation is then skipped: the pages stored so
    far are evaluated, the next run evaluates the rest). The summary holds counts; with
    ``rows`` also the provider's breached and due-soon rows (the scheduled run lists
    the most pressing ones of all providers at once: :func:`overview_step`).

    With ``notify_at`` (the run's notification clock) the provider's alerts are then
    planned and written ahead, in this step (:func:`notifications.write_ahead.plan_provider`):
    the run's notify only adds the reminder and delivers. When that planning fails the
    check does not: ``alerts`` is None and the notify plans the provider itself.
    ``recipients_checked``: the caller validated the recipients (see ``plan_provider``).
    """
    settings = settings_from(config_path)
    provider = settings.provider(provider_id)
    today = date.fromisoformat(today_on)
    with provider_slot(settings):
        engine = shared_engine(settings.database.url)
        evaluation = ProviderEvaluation(
            engine=engine, settings=settings, provider_id=provider_id, today=today
        )
        report = sync_provider(settings, provider_id, full=full, engine=engine, observer=evaluation)
        sync = _sync_summary(engine, settings, report)
        outcome = evaluation.finish()
        with read_scope(engine) as session:
            summary = summarize_stored(
                session=session,
                provider_id=provider_id,
                today=today,
                overrides=provider.overrides,
                history_rows=outcome.written,
                cases_evaluated=outcome.cases,
                complete=outcome.complete,
                rows=rows,
            )
    cases = report.collections.get("cases")
    log.info(
        "provider %r: %d fetched (cases changed since %s), %d stored, %d rejected; "
        "%d case(s) evaluated (%s), %d deadline(s) new or changed",
        provider_id,
        sync.fetched,
        (cases.since if cases else None) or "the start",
        sync.stored,
        sync.rejected,
        outcome.cases,
        evaluation_mode(outcome),
        outcome.written,
    )
    alerts = (
        None
        if notify_at is None
        else _plan_alerts(
            settings, provider_id, notify_at, evaluation.coaches, checked=recipients_checked
        )
    )
    return CheckSummary(sync=sync, evaluation=summary, alerts=alerts)


def stored_checks_step(
    config_path: str, provider_ids: Sequence[str], today_on: str
) -> dict[str, CheckSummary]:
    """The summaries of checks that ran elsewhere (a work pool's ``provider-check`` runs),
    read back from the store: each provider's latest sync run and its stored deadlines'
    counts. Providers that never synced are left out."""
    settings = settings_from(config_path)
    today = date.fromisoformat(today_on)
    engine = shared_engine(settings.database.url)
    found: dict[str, CheckSummary] = {}
    with read_scope(engine) as session:
        for provider_id in provider_ids:
            runs = latest_sync_runs(session=session, provider_id=provider_id, limit=1)
            if not runs:
                continue
            run = runs[0]
            rejected = list_rejected(session=session, provider_id=provider_id, limit=ROW_CAP)
            sync = SyncSummary(
                provider_id=provider_id,
                fetched=run.fetched,
                stored=run.stored,
                unchanged=run.unchanged,
                rejected=run.rejected,
                rejected_rows=tuple(
                    RejectedRow(kind=item.kind, ref=item.ref, errors=tuple(item.errors))
                    for item in rejected
                )
                if run.rejected
                else (),
            )
            evaluation = summarize_stored(
                session=session,
                provider_id=provider_id,
                today=today,
                overrides=settings.provider(provider_id).overrides,
                rows=False,
            )
            found[provider_id] = CheckSummary(sync=sync, evaluation=evaluation)
    return found


def _plan_alerts(
    settings: Settings,
    provider_id: str,
    now_at: str,
    coaches: Sequence[CoachPayload],
    *,
    checked: bool,
) -> AlertPlanSummary | None:
    """The provider's alerts planned and written ahead; None (logged) when that failed."""
    try:
        report = plan_provider(
            settings,
            now=datetime.fromisoformat(now_at),
            provider_id=provider_id,
            coaches=coaches,
            recipients_checked=checked,
        )
    except (VahtiError, SQLAlchemyError) as error:
        # Vahti's messages are masked; a driver's could hold values: its type only.
        reason = str(error) if isinstance(error, VahtiError) else type(error).__name__
        log.warning("provider %r: alerts not planned in its check (%s); notify plans them",
                    provider_id, reason)  # fmt: skip
        return None
    return report.as_plan()


def overview_step(config_path: str, today_on: str, *, limit: int = ROW_CAP) -> Overview:
    """The most overdue breaches and the nearest due-soon deadlines of every provider."""
    settings = settings_from(config_path)
    with read_scope(shared_engine(settings.database.url)) as session:
        return overview(
            session=session,
            provider_ids=[p.id for p in settings.providers],
            today=date.fromisoformat(today_on),
            limit=limit,
        )


def statistics_step(config_path: str) -> list[str]:
    """After the checks: the planner's statistics refreshed where they wrote the most (the
    tables analyzed; PostgreSQL only, :func:`models.db.refresh_statistics`)."""
    settings = settings_from(config_path)
    return refresh_statistics(shared_engine(settings.database.url))


def sync_step(config_path: str, provider_id: str, *, full: bool = False) -> SyncSummary:
    """Pull one provider's cases, audits and staff into the store (one provider slot).

    Raises ProviderError naming the provider when the sync did not complete; invalid
    items are not failures (they are stored as rejected payloads and counted).
    """
    settings = settings_from(config_path)
    with provider_slot(settings):
        engine = shared_engine(settings.database.url)
        report = sync_provider(settings, provider_id, full=full, engine=engine)
        return _sync_summary(engine, settings, report)


def _sync_summary(engine: Engine, settings: Settings, report: SyncReport) -> SyncSummary:
    """The report as a summary; a ProviderError when a collection failed, transient (worth
    running the check again) only when every failure was."""
    if report.failures:
        error = TransientProviderError if report.transient else PermanentProviderError
        raise error(
            "sync failed: " + "; ".join(report.errors),
            provider=report.id,
            url=settings.provider(report.id).base_url,
        )
    rejected_rows: tuple[RejectedRow, ...] = ()
    if report.rejected:
        with read_scope(engine) as session:
            rejected = list_rejected(session=session, provider_id=report.id, limit=ROW_CAP)
            rejected_rows = tuple(
                RejectedRow(kind=item.kind, ref=item.ref, errors=tuple(item.errors))
                for item in rejected
            )
    return SyncSummary(
        provider_id=report.id,
        fetched=report.fetched,
        stored=report.stored,
        unchanged=report.unchanged,
        rejected=report.rejected,
        rejected_rows=rejected_rows,
    )


def evaluate_step(
    config_path: str,
    provider_id: str,
    today_on: str,
    *,
    store: bool = True,
    case_ref: str | None = None,
    explain: bool = False,
) -> EvaluationSummary:
    """Evaluate one provider's stored open subjects on ``today_on``; store the deadlines.

    ``store=False`` computes without writing anything (ad-hoc dry runs, what-ifs);
    ``case_ref`` narrows the result to one case (every subject is still evaluated so
    staff and audit rules see the whole provider). One provider slot at a time.
    """
    settings = settings_from(config_path)
    with provider_slot(settings):
        return _evaluate_step(
            settings, provider_id, today_on, store=store, case_ref=case_ref, explain=explain
        )


def _evaluate_step(
    settings: Settings,
    provider_id: str,
    today_on: str,
    *,
    store: bool = True,
    case_ref: str | None = None,
    explain: bool = False,
) -> EvaluationSummary:
    provider = settings.provider(provider_id)
    today = date.fromisoformat(today_on)
    engine = shared_engine(settings.database.url)
    if store and case_ref is None:  # the scheduled path: only what can have changed
        outcome = evaluate_and_store(
            engine=engine, settings=settings, provider_id=provider_id, today=today
        )
        with read_scope(engine) as session:
            return summarize_stored(
                session=session,
                provider_id=provider_id,
                today=today,
                overrides=provider.overrides,
                history_rows=outcome.written,
                cases_evaluated=outcome.cases,
                complete=outcome.complete,
            )
    with read_scope(engine) as session:
        deadlines = evaluate_stored(
            session=session, settings=settings, provider_id=provider_id, today=today
        )
    written = 0
    if store:
        with session_scope(engine) as session:
            result = store_deadlines(
                session=session,
                provider_id=provider_id,
                deadlines=deadlines,
                evaluated_on=today,
                retire_missing=True,
                planned=planned_when_stored,
            )
        written = result.new + result.changed
    selected: tuple[DeadlineRow, ...] = ()
    if case_ref is not None:
        deadlines = [d for d in deadlines if d.subject == case_ref]
        if not deadlines:
            raise InputError(f"provider {provider_id!r}: no open case {case_ref!r} in the store")
        selected = tuple(deadline_row(provider_id, d, explain=explain) for d in deadlines)
    summary = summarize(
        provider_id,
        today,
        deadlines,
        overrides=provider.overrides,
        history_rows=written,
        explain=explain,
    )
    return replace(summary, selected=selected)


def notify_step(
    config_path: str,
    now_at: str,
    *,
    dry_run: bool = False,
    provider_id: str | None = None,
    planned: Mapping[str, AlertPlanSummary] | None = None,
    release: bool = True,
) -> NotifySummary:
    """Plan and deliver the alerts due at ``now_at`` (an aware ISO timestamp); ``planned``:
    the providers whose checks planned theirs (see :func:`check_step`).

    ``release``: first collect and return to the system what provider checks in this
    process left (their peak and notify's then do not add up). A flow whose checks ran
    in worker processes passes False: its own heap is Prefect's and the imports, and a
    full collection of it costs time for nothing.
    """
    settings = settings_from(config_path)
    now = datetime.fromisoformat(now_at)
    if release:
        release_memory()
    report = notify(settings, now=now, dry_run=dry_run, provider_id=provider_id, planned=planned)
    return NotifySummary(
        sent=report.sent,
        failed=report.failed,
        suppressed=report.suppressed,
        pending=report.pending,
        by_language=dict(report.by_language),
        dry_run=dry_run,
        messages=report.messages_sent,
        messages_failed=report.messages_failed,
        by_provider={k: (v[0], v[1]) for k, v in report.by_provider.items()},
    )


def evaluate_stored(
    *, session: Session, settings: Settings, provider_id: str, today: date
) -> list[Deadline]:
    """Run the engine over one provider's stored open cases, audits and staff."""
    provider = settings.provider(provider_id)
    cases = load_cases(session=session, provider_id=provider_id, today=today)
    audits = load_audits(session=session, provider_id=provider_id)
    staff = load_coaches(session=session, provider_id=provider_id)
    pack = rules.get_pack(settings.pack) if settings.pack else None
    return rules.evaluate(
        cases,
        audits,
        staff,
        pack,
        today,
        rules.FinnishCalendar(),
        overrides=dict(provider.overrides) or None,
        provider_id=provider_id,
    )


# -- operations -------------------------------------------------------------------------


def alert_operations_step(
    config_path: str, now_at: str, *, rule: str, subject: str, reason: str
) -> int:
    """Tell operations through the ledger, like every other alert (once per rule, subject
    and day); the ledger rows written now (0: already told today, or no recipient).

    Raises DeliveryError when the alert was written and no operations recipient took it.
    """
    settings = settings_from(config_path)
    report = notify_operations(
        settings,
        now=datetime.fromisoformat(now_at),
        provider_id=ALL_PROVIDERS,
        rule=rule,
        subject=subject,
        reason=reason,
    )
    if report.unroutable:
        log.warning("no operations recipients configured: %s %s", rule, subject)
    if report.failed:
        raise DeliveryError("operations alert not delivered: " + "; ".join(report.errors))
    return report.planned


def outages_step(
    config_path: str, now_at: str, *, failed: Mapping[str, str], answering: Sequence[str]
) -> int:
    """Tell operations of the providers whose check failed (once per outage and day) and of
    those answering again after an outage; the ledger rows written now.

    Raises DeliveryError when an alert was written and no operations recipient took it.
    """
    settings = settings_from(config_path)
    report = tell_outages(
        settings, now=datetime.fromisoformat(now_at), failed=failed, answering=answering
    )
    if report.unroutable:
        log.warning("no operations recipients configured: provider outages not told")
    if report.failed:
        raise DeliveryError("outage alert not delivered: " + "; ".join(report.errors))
    if report.planned:
        log.info("operations told of %d provider outage change(s)", report.planned)
    return report.planned
