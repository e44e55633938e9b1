"""The alerting policy: which alerts are due now. Pure: no clock, no I/O.

Input: the current deadlines (with their provider), what the ledger already holds, the
acknowledgements and silences, ``today``/``now`` and the policy settings. Output: the
alerts to write to the ledger now, the ones held for the send window, the suppressed
ones (listed in reports) and the ledger keys that are no longer justified.

Stages per deadline (one dedup key each, sent once across runs):

* ``warn-N``: the smallest lead time N >= days left (leads default 7, 3, 1);
* ``warn-count``: a counted limit reached its warning count (status ``due_soon``);
* ``at-risk``: the engine forecasts the deadline cannot be met;
* ``advisory``: an advisory item, once, to the owner;
* ``breach``: once, to the owner and quality staff;
* ``resolved``: one note to quality staff when a breached deadline becomes met.

Breaches still open on later working days are not repeated one alert each: quality
staff get one daily reminder summarising them (:mod:`notifications.reminder`).

Backlog: on a provider's first check, and on its first check after an outage, a breach
overdue longer than ``backlog_age_days`` is history, not news. It goes to ``backlog``
instead of ``due``: the ledger keeps it as settled (never sent on its own) and quality
staff get one summary of them. When a provider has such a backlog, its recent breaches
go to their owner only (quality staff have the summary, and the reminder from the next
working day); warnings go out as usual.

The plan needs only the deadlines that can have something new to say (see
:func:`ledger_keys` for the ledger entries it needs): what changed since the last plan,
what is inside the warning window, what the open ledger entries and suppressions name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from models.ledger import LedgerEntry, Suppression
from rules.deadline import QUIET_STATUSES, Deadline, ProviderDeadline, Status, ended_after_due
from rules.summary import reason_parts

Audience = Literal["owner", "quality"]
_OWNER: frozenset[Audience] = frozenset({"owner"})
_QUALITY: frozenset[Audience] = frozenset({"quality"})
_BOTH: frozenset[Audience] = frozenset({"owner", "quality"})
WorkingDay = Callable[[date], bool]


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """The knobs of the policy (built from ``AlertSettings`` by the service)."""

    lead_days: tuple[int, ...] = (7, 3, 1)
    breach_repeat: bool = True
    resolved_note: bool = True
    send_window_start: time = time(8, 0)
    send_window_end: time = time(16, 0)
    timezone: str = "Europe/Helsinki"
    backlog_age_days: int = 14


@dataclass(frozen=True, slots=True)
class PlannedAlert:
    """One stage of one deadline that should reach its audience."""

    key: str
    provider_id: str
    deadline: Deadline
    stage: str
    audience: frozenset[Audience]
    urgent: bool
    days_left: int | None


@dataclass(frozen=True, slots=True)
class SuppressedItem:
    alert: PlannedAlert
    suppression: Suppression


@dataclass(frozen=True, slots=True)
class PolicyResult:
    due: tuple[PlannedAlert, ...] = ()  # write to the ledger and send now
    held: tuple[PlannedAlert, ...] = ()  # non-urgent, outside the send window: next run
    suppressed: tuple[SuppressedItem, ...] = ()
    obsolete: tuple[str, ...] = ()  # open ledger keys that are no longer justified
    wanted: frozenset[str] = field(default_factory=frozenset)
    backlog: tuple[PlannedAlert, ...] = ()  # old breaches of a catching-up provider: summarised


def dedup_key(provider_id: str, deadline: Deadline, stage: str) -> str:
    """(provider, subject_kind, subject, rule, due_on, stage): a moved due date starts afresh."""
    due = deadline.due_on.isoformat() if deadline.due_on else "-"
    parts = (provider_id, deadline.subject_kind, deadline.subject, deadline.rule, due, stage)
    return "|".join(parts)


def warning_stage(days_left: int, lead_days: Iterable[int]) -> str | None:
    """The smallest lead time >= days left, as ``warn-N``; None outside every lead."""
    if days_left < 0:
        return None
    leads = sorted(lead for lead in lead_days if lead >= days_left)
    return f"warn-{leads[0]}" if leads else None


def in_send_window(now: datetime, settings: PolicySettings, is_working_day: WorkingDay) -> bool:
    """Finnish working day and inside the window, in the configured time zone."""
    local = now.astimezone(ZoneInfo(settings.timezone))
    if not is_working_day(local.date()):
        return False
    return settings.send_window_start <= local.time() < settings.send_window_end


def catching_up(*, seen_before: bool, outage_since: datetime | None) -> bool:
    """True when a provider's check brings its history, not news: its first check (no
    earlier evaluation or alert), or its first check after an outage told to operations."""
    return not seen_before or outage_since is not None


def breached_on(deadline: Deadline) -> date | None:
    """When a breach happened: its due date, or a per-item rule's latest offending date."""
    if deadline.due_on is not None:
        return deadline.due_on
    return max(reason_parts(deadline.explanation, deadline.details).offending_on, default=None)


def in_backlog(alert: PlannedAlert, *, today: date, settings: PolicySettings) -> bool:
    """A breach older than ``backlog_age_days`` (one without any date is news)."""
    since = breached_on(alert.deadline)
    if alert.stage != "breach" or since is None:
        return False
    return (today - since).days > settings.backlog_age_days


def _days_left(deadline: Deadline, today: date) -> int | None:
    return (deadline.due_on - today).days if deadline.due_on is not None else None


def _stages(  # noqa: PLR0911 (one return per status of the closed set)
    item: ProviderDeadline,
    *,
    today: date,
    ledger: Mapping[str, LedgerEntry],
    settings: PolicySettings,
) -> list[tuple[str, frozenset[Audience]]]:
    """The stages the current state of one deadline justifies today."""
    d = item.deadline
    owner = _BOTH if d.escalate else _OWNER
    days_left = _days_left(d, today)
    match d.status:
        case Status.BREACHED:
            if ended_after_due(d):  # decision 1: an ended case's breach is for reports only
                return []
            entry = ledger.get(dedup_key(item.provider_id, d, "breach"))
            return [("breach", _BOTH)] if entry is None or entry.open else []
        case Status.MET | Status.MET_LATE:
            breached = dedup_key(item.provider_id, d, "breach") in ledger
            return [("resolved", _QUALITY)] if breached and settings.resolved_note else []
        case Status.ADVISORY:
            return [("advisory", owner)]
        case Status.AT_RISK:
            return [("at-risk", owner)]
        case Status.DUE_SOON | Status.OPEN:
            if d.count is not None and d.limit is not None:
                return [("warn-count", owner)] if d.status is Status.DUE_SOON else []
            if days_left is None:
                return []
            stage = warning_stage(days_left, settings.lead_days)
            return [(stage, owner)] if stage else []
        case _:  # QUIET_STATUSES (ok, waiting, not_applicable, unconfigured): nothing to say
            return []


def planned_when_stored(deadline: Deadline, replaced: Status | None) -> bool:
    """True when a new row needs no plan of its own: it can alert only through the
    warning window (which the notifier reads anyway) or never. ``replaced``: the status
    of the current row it replaces (None: none, or a quiet one).

    Quiet statuses never alert; ``open`` and dated ``due_soon`` rows speak only through
    a lead time, and every run reads the rows inside the longest lead; ``met`` and
    ``met_late`` rows only send the resolved note, and only after a breach: a row that
    replaces a breached one is left to the plan, which looks the breach alert up in the
    ledger. Everything else is planned by the next run.
    """
    match deadline.status:
        case Status.OPEN:
            return True
        case Status.DUE_SOON:
            return deadline.count is None or deadline.limit is None
        case Status.MET | Status.MET_LATE:
            return replaced is not Status.BREACHED
        case status:
            return status in QUIET_STATUSES


def ledger_keys(
    deadlines: Iterable[ProviderDeadline], *, today: date, settings: PolicySettings
) -> set[str]:
    """Every dedup key :func:`plan` may look up in the ledger for these deadlines.

    The caller reads just these entries (plus the open ones) instead of the whole ledger:
    each deadline's breach key and the key of the stage it justifies whatever the ledger
    holds (the ledger only decides between sending it and sending nothing).
    """
    nothing: Mapping[str, LedgerEntry] = {}
    keys: set[str] = set()
    for item in deadlines:
        d = item.deadline
        if d.status in QUIET_STATUSES:
            continue
        keys.add(dedup_key(item.provider_id, d, "breach"))
        if d.status in (Status.MET, Status.MET_LATE):
            keys.add(dedup_key(item.provider_id, d, "resolved"))
            continue
        for stage, _ in _stages(item, today=today, ledger=nothing, settings=settings):
            keys.add(dedup_key(item.provider_id, d, stage))
    return keys


def _urgent(stage: str, days_left: int | None) -> bool:
    if stage.startswith("breach"):
        return True
    return stage != "resolved" and days_left is not None and 0 <= days_left <= 1


def plan(
    deadlines: Iterable[ProviderDeadline],
    *,
    ledger: Mapping[str, LedgerEntry],
    suppressions: Iterable[Suppression],
    today: date,
    now: datetime,
    settings: PolicySettings,
    is_working_day: WorkingDay,
    catching_up: Collection[str] = frozenset(),
) -> PolicyResult:
    """The alerts due now; see the module docstring for the stages and inhibition.
    ``catching_up``: the providers whose old breaches go to the backlog summary."""
    active = [s for s in suppressions if s.until_on is None or s.until_on >= today]
    window_open = in_send_window(now, settings, is_working_day)
    due: list[PlannedAlert] = []
    backlog: list[PlannedAlert] = []
    held: list[PlannedAlert] = []
    suppressed: list[SuppressedItem] = []
    wanted: set[str] = set()
    for item in deadlines:
        days_left = _days_left(item.deadline, today)
        for stage, audience in _stages(item, today=today, ledger=ledger, settings=settings):
            key = dedup_key(item.provider_id, item.deadline, stage)
            alert = PlannedAlert(
                key=key,
                provider_id=item.provider_id,
                deadline=item.deadline,
                stage=stage,
                audience=audience,
                urgent=_urgent(stage, days_left),
                days_left=days_left,
            )
            quiet = next((s for s in active if s.applies(item, today)), None)
            if quiet is not None:
                suppressed.append(SuppressedItem(alert, quiet))
                continue
            wanted.add(key)
            if key in ledger:
                continue
            if item.provider_id in catching_up and in_backlog(
                alert, today=today, settings=settings
            ):
                backlog.append(alert)
                continue
            (due if alert.urgent or window_open else held).append(alert)
    obsolete = sorted(k for k, e in ledger.items() if e.open and k not in wanted)
    behind = {alert.provider_id for alert in backlog}
    due = [_to_owner(alert) if alert.provider_id in behind else alert for alert in due]
    due.sort(key=_order)
    return PolicyResult(
        due=tuple(due),
        held=tuple(held),
        suppressed=tuple(suppressed),
        obsolete=tuple(obsolete),
        wanted=frozenset(wanted),
        backlog=tuple(sorted(backlog, key=_order)),
    )


def _to_owner(alert: PlannedAlert) -> PlannedAlert:
    """A recent breach of a provider with a backlog: its owner's to act on (quality staff
    have the summary now and the reminder from the next working day); escalated: both."""
    if alert.stage != "breach" or alert.deadline.escalate:
        return alert
    return replace(alert, audience=_OWNER)


def _order(alert: PlannedAlert) -> tuple[bool, int, str]:
    """Urgent first, then the nearest due date, then the key (stable)."""
    days = alert.days_left if alert.days_left is not None else 10_000
    return (not alert.urgent, days, alert.key)
