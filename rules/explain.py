"""Shared machinery of the rule families: status from dates, explanations, Deadline building.

Every rule function receives a context (:class:`Env` for the run, :class:`CaseContext`
for one case) and returns Deadlines that explain themselves: trigger and date, base
period, each extension with its days and cap, the roll with the skipped days, the rule
pack id and every parameter used (provisional and overridden ones marked).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from contract.payloads import CasePayload
from rules.calendar import FinnishCalendar
from rules.deadline import (
    ENDED_AFTER_DUE_PREFIX,
    ENDED_AFTER_DUE_SUFFIX,
    Deadline,
    Status,
    SubjectKind,
)
from rules.pack import RulePack, Value, pack_in_force

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Extension:
    """Days added to a due date, with what caused them and the cap that applied."""

    label: str
    days: int
    note: str = ""

    def describe(self) -> str:
        suffix = f" ({self.note})" if self.note else ""
        return f"extension: {self.label} +{self.days} d{suffix}"


#: ``due(pack, trigger_on) -> (base due, base-period line, extensions, extra notes)``
DueFn = Callable[[RulePack, date], tuple[date, str, list[Extension], list[str]]]


def inclusive_days(start_on: date, end_on: date) -> int:
    """Days in ``[start_on, end_on]``, both counted (0 for an empty range)."""
    return max((end_on - start_on).days + 1, 0)


def overlap_days(start_on: date, end_on: date, window_start: date, window_end: date) -> int:
    """Days of ``[start_on, end_on]`` inside ``[window_start, window_end]``."""
    return inclusive_days(max(start_on, window_start), min(end_on, window_end))


class Env:
    """One evaluation run: today, calendar, warning window and the pack resolution."""

    __slots__ = (
        "_by_date",
        "_info",
        "_resolved",
        "calendar",
        "overrides",
        "pack",
        "provider_id",
        "today",
        "warn_days",
    )

    def __init__(
        self,
        *,
        today: date,
        calendar: FinnishCalendar,
        pack: RulePack | None,
        overrides: Mapping[str, Value] | None,
        provider_id: str | None,
        warn_days: int,
    ) -> None:
        self.today = today
        self.calendar = calendar
        self.pack = pack
        self.overrides = overrides
        self.provider_id = provider_id
        self.warn_days = warn_days
        self._resolved: dict[tuple[str, bool], RulePack] = {}
        self._by_date: dict[date, RulePack] = {}
        self._info: dict[
            tuple[str, bool, tuple[str, ...]], tuple[tuple[str, ...], tuple[str, ...]]
        ] = {}

    def pack_on(self, trigger_on: date) -> RulePack:
        """The pack given, or the one in force on ``trigger_on``, with overrides applied."""
        resolved = self._by_date.get(trigger_on)
        if resolved is None:
            base = self.pack if self.pack is not None else pack_in_force(trigger_on)
            early = trigger_on < base.valid_from
            cache_key = (base.id, early)
            resolved = self._resolved.get(cache_key)
            if resolved is None:
                resolved = (
                    base.with_overrides(self.overrides, by=self.provider_id)
                    if self.overrides
                    else base
                )
                if early:
                    resolved = resolved.applied_before_valid_from()
                self._resolved[cache_key] = resolved
            self._by_date[trigger_on] = resolved
        return resolved

    def pack_info(
        self, pack: RulePack, keys: Sequence[str]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The pack lines and provisional keys for ``keys`` (cached: the same every time)."""
        cache_key = (pack.id, pack.before_valid_from, tuple(keys))
        info = self._info.get(cache_key)
        if info is None:
            info = (tuple(pack_lines(pack, keys)), provisional_of(pack, keys))
            self._info[cache_key] = info
        return info

    def timed_status(self, due_on: date, event_on: date | None, lead: int | None = None) -> Status:
        """met / met_late when the event happened, else breached / due_soon / open."""
        if event_on is not None:
            return Status.MET if event_on <= due_on else Status.MET_LATE
        days_left = (due_on - self.today).days
        if days_left < 0:
            return Status.BREACHED
        if days_left <= (self.warn_days if lead is None else lead):
            return Status.DUE_SOON
        return Status.OPEN

    def counted_status(self, count: int, limit: int, warn_at: int) -> Status:
        """breached past the limit, due_soon at/past the warning count, else ok."""
        if count > limit:
            return Status.BREACHED
        if count >= warn_at:
            return Status.DUE_SOON
        return Status.OK


def pack_lines(pack: RulePack, keys: Sequence[str]) -> list[str]:
    """``rule pack ID`` (and when it was applied early, rules.md decision 7), then one line
    per parameter used."""
    lines = [f"rule pack {pack.id}"]
    if pack.before_valid_from:
        lines.append(f"pack {pack.id} applied to a trigger before its valid_from {pack.valid_from}")
    return [*lines, *(pack.param(key).describe() for key in keys)]


def provisional_of(pack: RulePack, keys: Sequence[str]) -> tuple[str, ...]:
    """The provisional parameters among ``keys`` (and the pack's valid_from when applied early)."""
    early = (f"{pack.id}.valid_from {pack.valid_from}",) if pack.before_valid_from else ()
    return (*early, *(key for key in keys if pack.param(key).provisional))


def build(
    env: Env,
    *,
    subject_kind: SubjectKind,
    subject: str,
    rule: str,
    status: Status,
    pack: RulePack,
    keys: Sequence[str] = (),
    due_on: date | None = None,
    event_on: date | None = None,
    details: Sequence[str] = (),
    explanation: Sequence[str] = (),
    office_id: str | None = None,
    coach_id: str | None = None,
    link: str | None = None,
    language: str | None = None,
    escalate: bool = False,
    count: int | None = None,
    limit: int | None = None,
) -> Deadline:
    """A Deadline with days_left, pack id, provisional keys and the pack lines appended."""
    lines, provisional = env.pack_info(pack, keys)
    return Deadline(
        subject_kind=subject_kind,
        subject=subject,
        rule=rule,
        status=status,
        due_on=due_on,
        event_on=event_on,
        days_left=None if due_on is None else (due_on - env.today).days,
        details=tuple(details),
        explanation=(*explanation, *lines),
        pack_id=pack.id,
        provisional=provisional,
        office_id=office_id,
        coach_id=coach_id,
        link=link,
        language=language,
        escalate=escalate,
        count=count,
        limit=limit,
    )


class CaseContext:
    """One case under evaluation: the shared facts every case rule needs."""

    __slots__ = ("case", "env")

    def __init__(self, case: CasePayload, env: Env) -> None:
        self.case = case
        self.env = env

    def pack_on(self, trigger_on: date | None) -> RulePack:
        """The pack for a rule triggered on ``trigger_on`` (decision date when unknown)."""
        return self.env.pack_on(trigger_on or self.case.decision_received_on)

    def make(
        self,
        rule: str,
        status: Status,
        pack: RulePack,
        keys: Sequence[str] = (),
        *,
        due_on: date | None = None,
        event_on: date | None = None,
        details: Sequence[str] = (),
        explanation: Sequence[str] = (),
        count: int | None = None,
        limit: int | None = None,
    ) -> Deadline:
        """A case Deadline with the case's routing context filled in (built directly: hot)."""
        case = self.case
        env = self.env
        lines, provisional = env.pack_info(pack, keys)
        return Deadline(
            "case",
            case.case_ref,
            rule,
            status,
            due_on,
            event_on,
            None if due_on is None else (due_on - env.today).days,
            tuple(details),
            (*explanation, *lines),
            pack.id,
            provisional,
            case.office_id,
            case.coach_id,
            case.case_url,
            case.language,
            False,  # escalate: no case rule escalates by itself
            count,
            limit,
        )

    def timed(
        self,
        rule: str,
        *,
        trigger: tuple[str, date | None],
        event: tuple[str, date | None],
        keys: Sequence[str],
        due: DueFn,
        roll: bool = True,
        start_phase: bool = False,
    ) -> Deadline:
        """A "do X within N" rule: waiting, ended-stop, due date with extensions and roll."""
        trigger_name, trigger_on = trigger
        event_name, event_on = event
        pack = self.pack_on(trigger_on)
        if trigger_on is None:
            return self.make(
                rule,
                Status.WAITING,
                pack,
                keys,
                explanation=[
                    f"waiting: {trigger_name} not known yet",
                ],
            )
        base_due, base_text, extensions, notes = due(pack, trigger_on)
        lines = [f"trigger: {trigger_name} {trigger_on.isoformat()}", base_text, *notes]
        lines.extend(ext.describe() for ext in extensions)
        due_on = base_due + timedelta(days=sum(ext.days for ext in extensions))
        if roll:
            rolled = self.env.calendar.roll(due_on)
            lines.append(f"roll: {rolled.describe()}")
            due_on = rolled.on
        else:
            lines.append("no roll: the date stands even on a non-working day")
        ended_on = self.case.ended_on
        if start_phase and event_on is None and ended_on is not None:
            if due_on >= ended_on:
                lines.append(
                    f"case ended on {ended_on.isoformat()} without {event_name}, "
                    "on or before the due date: the rule stops"
                )
                return self.make(
                    rule, Status.NOT_APPLICABLE, pack, keys, due_on=due_on, explanation=lines
                )
            lines.append(f"event: {event_name} not recorded")
            lines.append(f"{ENDED_AFTER_DUE_PREFIX}{ended_on.isoformat()}{ENDED_AFTER_DUE_SUFFIX}")
            status = self.env.timed_status(due_on, None)
            return self.make(rule, status, pack, keys, due_on=due_on, explanation=lines)
        if event_on is not None:
            lines.append(f"event: {event_name} {event_on.isoformat()}")
        else:
            lines.append(f"event: {event_name} not yet recorded")
        status = self.env.timed_status(due_on, event_on)
        return self.make(
            rule, status, pack, keys, due_on=due_on, event_on=event_on, explanation=lines
        )
