"""Per-item and counted case rules: days, billing and meetings.

DAY-QUOTA, DAY-LENGTH, TV-PAID-WORK, MEALS-PT8, ABSENCE-NOT-BILLED, TV-MEETINGS-MAX,
TK-MEETINGS-MAX and VIDEO-MEETINGS-MAX. Per-item rules are ``ok`` or ``breached`` and
list every offending date in ``details``; counted rules are ``ok``, ``due_soon`` (at or
past the warning count) or ``breached`` (past the limit). A rule whose limit is unknown
(``None`` in the pack) is ``unconfigured``.
"""

from __future__ import annotations

from collections.abc import Sequence

from rules.deadline import Deadline, Status
from rules.explain import CaseContext
from rules.pack import RulePack

_SERVICE_NAMES = {"work_trial": "work trial", "job_coaching": "job coaching"}


def _per_item(
    ctx: CaseContext,
    rule: str,
    pack: RulePack,
    keys: Sequence[str],
    *,
    what: str,
    offending: list[str],
) -> Deadline:
    if offending:
        return ctx.make(
            rule,
            Status.BREACHED,
            pack,
            keys,
            details=offending,
            explanation=[f"{len(offending)} {what}"],
        )
    return ctx.make(rule, Status.OK, pack, keys, explanation=[f"no {what} so far"])


def _not_for_service(ctx: CaseContext, rule: str, pack: RulePack) -> Deadline:
    service = _SERVICE_NAMES[ctx.case.service]
    return ctx.make(rule, Status.NOT_APPLICABLE, pack, explanation=[f"not a rule of {service}"])


def day_quota(ctx: CaseContext) -> Deadline:
    """DAY-QUOTA: at most 45 (TK) / 95 (TV) realized days; illness days never count."""
    case = ctx.case
    pack = ctx.pack_on(case.first_meeting_on)
    quota_key, warn_key = f"DAY-QUOTA.{case.service}", "DAY-QUOTA.warn_before"
    quota = pack.days(quota_key)
    warn_at = quota - pack.days(warn_key)
    realized = [day.on for day in case.days if day.status == "realized"]
    count = len(realized)
    status = ctx.env.counted_status(count, quota, warn_at)
    details = [f"{on} beyond the quota" for on in sorted(realized)[quota:]]
    return ctx.make(
        "DAY-QUOTA",
        status,
        pack,
        (quota_key, warn_key),
        details=details,
        count=count,
        limit=quota,
        explanation=[f"{count} realized day(s) of {quota}; warning at {warn_at}"],
    )


def day_length(ctx: CaseContext) -> Deadline:
    """DAY-LENGTH: >= 6 h a day, >= 5 h at the workplace, unless jousto (reduced capacity)."""
    case = ctx.case
    pack = ctx.pack_on(case.first_meeting_on)
    keys = ("DAY-LENGTH.min_hours", "DAY-LENGTH.min_workplace_hours")
    min_total, min_workplace = pack.number(keys[0]), pack.number(keys[1])
    offending = []
    for day in case.days:
        if day.status != "realized":
            continue
        short = day.hours_total < min_total or day.hours_at_workplace < min_workplace
        if short and day.flex_reason != "reduced_capacity":
            why = (
                "flex_reason workplace is never acceptable"
                if day.flex_reason == "workplace"
                else "no flex_reason"
            )
            offending.append(
                f"{day.on}: {day.hours_total:g} h total, {day.hours_at_workplace:g} h at the "
                f"workplace (min {min_total:g}/{min_workplace:g} h; {why})"
            )
    return _per_item(ctx, "DAY-LENGTH", pack, keys, what="short day(s)", offending=offending)


def tv_paid_work(ctx: CaseContext) -> Deadline:
    """TV-PAID-WORK: every realized job coaching day is paid work (flex days too)."""
    case = ctx.case
    pack = ctx.pack_on(case.first_meeting_on)
    if case.service != "job_coaching":
        return _not_for_service(ctx, "TV-PAID-WORK", pack)
    offending = [
        f"{day.on}: realized without paid work"
        for day in case.days
        if day.status == "realized" and not day.paid_work
    ]
    return _per_item(
        ctx, "TV-PAID-WORK", pack, (), what="unpaid job coaching day(s)", offending=offending
    )


def meals_pt8(ctx: CaseContext) -> Deadline:
    """MEALS-PT8: price type 8 only on realized TK workplace-phase days without paid work."""
    case = ctx.case
    pack = ctx.pack_on(case.first_meeting_on)
    key = "MEALS-PT8.price_type"
    price_type = pack.days(key)
    workplace_on = case.workplace_phase_started_on
    offending = []
    for day in case.days:
        if price_type not in day.billed_price_types:
            continue
        if case.service == "job_coaching":
            offending.append(f"{day.on}: price type {price_type} is never billed in job coaching")
        elif day.status != "realized":
            offending.append(f"{day.on}: price type {price_type} billed on an absence day")
        elif workplace_on is None or day.on < workplace_on:
            offending.append(f"{day.on}: price type {price_type} before the workplace phase")
        elif day.paid_work:
            offending.append(f"{day.on}: price type {price_type} for a client in paid work")
    return _per_item(
        ctx, "MEALS-PT8", pack, (key,), what="wrongly billed meal day(s)", offending=offending
    )


def absence_not_billed(ctx: CaseContext) -> Deadline:
    """ABSENCE-NOT-BILLED: a day missed for illness or other absence is not billed."""
    case = ctx.case
    pack = ctx.pack_on(case.first_meeting_on)
    offending = [
        f"{day.on}: {day.status} billed as price type(s) "
        + ", ".join(str(t) for t in day.billed_price_types)
        for day in case.days
        if day.status != "realized" and day.billed_price_types
    ]
    return _per_item(
        ctx, "ABSENCE-NOT-BILLED", pack, (), what="billed absence day(s)", offending=offending
    )


def _meetings_cap(
    ctx: CaseContext,
    rule: str,
    pack: RulePack,
    keys: tuple[str, str | None],
    *,
    what: str,
    meeting_dates: list[str],
) -> Deadline:
    limit_key, warn_key = keys
    limit = pack.value(limit_key)
    used = tuple(key for key in keys if key is not None)
    if limit is None:
        return ctx.make(
            rule,
            Status.UNCONFIGURED,
            pack,
            used,
            explanation=[f"{limit_key} has no value: the rule is disabled"],
        )
    warn_value = pack.value(warn_key) if warn_key is not None else None
    warn_at = int(limit if warn_value is None else warn_value)
    count = len(meeting_dates)
    status = ctx.env.counted_status(count, int(limit), warn_at)
    details = [f"{on} beyond the cap" for on in sorted(meeting_dates)[int(limit) :]]
    return ctx.make(
        rule,
        status,
        pack,
        used,
        details=details,
        count=count,
        limit=int(limit),
        explanation=[f"{count} {what} of at most {int(limit)}; warning at {warn_at}"],
    )


def tv_meetings_max(ctx: CaseContext) -> Deadline:
    """TV-MEETINGS-MAX: job coaching has at most 25 meetings (warn at 22)."""
    case = ctx.case
    pack = ctx.pack_on(case.first_meeting_on)
    if case.service != "job_coaching":
        return _not_for_service(ctx, "TV-MEETINGS-MAX", pack)
    dates = [m.on.isoformat() for m in case.meetings]
    keys = ("TV-MEETINGS-MAX.max", "TV-MEETINGS-MAX.warn_at")
    return _meetings_cap(ctx, "TV-MEETINGS-MAX", pack, keys, what="meeting(s)", meeting_dates=dates)


def tk_meetings_max(ctx: CaseContext) -> Deadline:
    """TK-MEETINGS-MAX: work trial meeting cap (unknown: unconfigured by default)."""
    case = ctx.case
    pack = ctx.pack_on(case.first_meeting_on)
    if case.service != "work_trial":
        return _not_for_service(ctx, "TK-MEETINGS-MAX", pack)
    dates = [m.on.isoformat() for m in case.meetings]
    keys = ("TK-MEETINGS-MAX.max", "TK-MEETINGS-MAX.warn_at")
    return _meetings_cap(ctx, "TK-MEETINGS-MAX", pack, keys, what="meeting(s)", meeting_dates=dates)


def video_meetings_max(ctx: CaseContext) -> Deadline:
    """VIDEO-MEETINGS-MAX: video meetings per service cap (unknown: unconfigured)."""
    case = ctx.case
    pack = ctx.pack_on(case.first_meeting_on)
    dates = [m.on.isoformat() for m in case.meetings if m.mode == "video"]
    keys = (f"VIDEO-MEETINGS-MAX.{case.service}", None)
    return _meetings_cap(
        ctx, "VIDEO-MEETINGS-MAX", pack, keys, what="video meeting(s)", meeting_dates=dates
    )


COUNT_RULES = (
    day_quota,
    day_length,
    tv_paid_work,
    meals_pt8,
    absence_not_billed,
    tv_meetings_max,
    tk_meetings_max,
    video_meetings_max,
)
