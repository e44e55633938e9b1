"""One synthetic case, built on demand from a compact skeleton (see ``generator``).

A case is rebuilt from ``(seed, index, version)`` every time it is asked for, so a
100 000-case provider costs a few arrays in memory instead of gigabytes of dicts.
Every event of a case lies on or before its ``as_of`` day (the day of its last update),
so ``updated_at`` never predates the content. Rates below are chosen so that most cases
comply and a realistic minority breaches each rule of ``rules.md``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from typing import Any

from dateutil.relativedelta import relativedelta

WORK_TRIAL = 0
JOB_COACHING = 1
SERVICES = ("work_trial", "job_coaching")
PREFIXES = ("TK", "TV")
#: Where the reference provider's case links point (its `case_link_origins` in vahti.toml).
CASE_LINK_ORIGIN = "https://crm.example.fi"

WAIT_CONTACT, WAIT_MEETING, PLANNING, WORKPLACE, ENDED = range(5)
PHASE_NAMES = ("waiting_contact", "waiting_meeting", "planning", "workplace", "ended")

_QUOTA = (45, 95)
_MONTHS = (5, 13)
_PRICE_DAY = (1, 2)  # synthetic price type of a rehabilitation day per service
_PRICE_MEALS = 8
_INVALID_KINDS = (
    "unknown_enum",
    "negative_hours",
    "ended_before_first_meeting",
    "identity_code",
    "duplicate_ref",
    "wrong_types",
)
#: A string shaped like a Finnish personal identity code (synthetic, never a real one).
IDENTITY_CODE_LIKE = "131052-308T"


@dataclass(frozen=True, slots=True)
class CaseSeed:
    """What the skeleton knows about one case; the rest follows from ``rng_seed``."""

    rng_seed: int
    case_ref: str
    service: int
    phase: int
    decision_on: int  # ordinal
    as_of: int  # ordinal of the last update
    office_id: str
    coach_id: str
    language: str
    version: int = 0
    touched_on: int = 0  # ordinal of the last touch()
    invalid_kind: str | None = None


_ISO_CACHE: dict[int, str] = {}


def _iso(ordinal: int) -> str:
    text = _ISO_CACHE.get(ordinal)
    if text is None:
        text = _ISO_CACHE[ordinal] = date.fromordinal(ordinal).isoformat()
    return text


def _weekday_on_or_after(ordinal: int) -> int:
    weekday = (ordinal + 6) % 7  # Monday = 0
    return ordinal + (7 - weekday if weekday >= 5 else 0)


def _add_months(ordinal: int, months: int) -> int:
    return (date.fromordinal(ordinal) + relativedelta(months=months)).toordinal()


def build_case(spec: CaseSeed) -> dict[str, Any]:
    """Return the case as the API serves it (a JSON-ready dict)."""
    rng = random.Random(spec.rng_seed)  # noqa: S311 - synthetic data, not security
    service, phase, cap = spec.service, spec.phase, spec.as_of
    decision = spec.decision_on
    case: dict[str, Any] = {
        "case_ref": spec.case_ref,
        "service": SERVICES[service],
        "office_id": spec.office_id,
        "coach_id": spec.coach_id,
        "language": spec.language,
        "case_url": f"{CASE_LINK_ORIGIN}/cases/{spec.case_ref}",
        "decision_received_on": _iso(decision),
        "first_contact_on": None,
        "first_meeting_on": None,
        "workplace_phase_started_on": None,
        "ended_on": None,
        "end_reason": None,
        "feedback_sent_on": None,
        "feedback_records_extensions": None,
        "vocational_plan_on": None,
        "pauses": [],
        "meetings": [],
        "days": [],
        "updated_at": "",  # filled in by the dataset
    }
    if phase == WAIT_CONTACT:
        return _apply_touch(case, spec)
    late_contact = rng.random() < 0.08
    contact = min(_weekday_on_or_after(decision + (rng.randint(2, 5) if late_contact else 1)), cap)
    case["first_contact_on"] = _iso(contact)
    if phase == WAIT_MEETING:
        return _apply_touch(case, spec)
    meeting = contact + (rng.randint(8, 14) if rng.random() < 0.08 else rng.randint(1, 7))
    meeting = min(_weekday_on_or_after(meeting), cap)
    case["first_meeting_on"] = _iso(meeting)
    interpreter = 0
    if spec.language != "fi" and rng.random() < 0.25:
        interpreter = rng.randint(3, 8)
        start = decision + 1
        case["pauses"].append(
            {
                "kind": "interpreter_unavailable",
                "start_on": _iso(start),
                "end_on": _iso(start + interpreter - 1),
            }
        )
    end, end_reason = _end_of(rng, service, phase, meeting, cap)
    workplace = _workplace_start(rng, phase, meeting, cap, end)
    _add_pauses(rng, case, meeting, workplace, cap)
    if workplace is not None:
        case["workplace_phase_started_on"] = _iso(workplace)
    _add_plan(rng, case, meeting, workplace, cap)
    _add_meetings(
        rng,
        case,
        service=service,
        meeting=meeting,
        last=end if end is not None else cap,
        end_reason=end_reason,
    )
    if workplace is not None:
        _add_days(rng, case, service, workplace, end if end is not None else cap - 1)
    if end is not None:
        case["ended_on"] = _iso(end)
        case["end_reason"] = end_reason
        _add_feedback(rng, case, end, cap)
    return _apply_touch(case, spec)


def _end_of(
    rng: random.Random, service: int, phase: int, meeting: int, cap: int
) -> tuple[int | None, str | None]:
    if phase != ENDED:
        return None, None
    limit = _add_months(meeting, _MONTHS[service])
    if rng.random() < 0.2:
        end = meeting + rng.randint(5, max(6, (limit - meeting) // 2))
        reason = "interrupted"
    else:
        over = rng.random() < 0.03
        end = limit + rng.randint(1, 20) if over else meeting + rng.randint(50, limit - meeting - 2)
        reason = "completed"
    return max(meeting + 1, min(end, cap - 16)), reason  # room for the feedback report


def _workplace_start(
    rng: random.Random, phase: int, meeting: int, cap: int, end: int | None
) -> int | None:
    if phase < WORKPLACE:
        return None
    late = rng.random() < 0.12
    start = _weekday_on_or_after(meeting + (rng.randint(31, 50) if late else rng.randint(12, 29)))
    last = end if end is not None else cap - 1
    if start > last:
        return None if end is not None else max(meeting + 1, min(start, cap))
    return start


def _add_pauses(
    rng: random.Random, case: dict[str, Any], meeting: int, workplace: int | None, cap: int
) -> None:
    pauses: list[dict[str, Any]] = case["pauses"]
    planning_end = workplace if workplace is not None else cap
    if rng.random() < 0.16 and planning_end - meeting > 6:
        start = meeting + rng.randint(2, min(15, planning_end - meeting - 2))
        length = rng.randint(15, 35) if rng.random() < 0.15 else rng.randint(2, 10)
        pauses.append(
            {
                "kind": "illness",
                "start_on": _iso(start),
                "end_on": _iso(min(start + length - 1, max(cap, start))),
                "remote_participation_possible": rng.random() < 0.3,
            }
        )
    if rng.random() < 0.07 and planning_end - meeting > 30:
        start = meeting + rng.randint(28, min(33, planning_end - meeting))
        pauses.append(
            {
                "kind": "sequencing",
                "start_on": _iso(start),
                "end_on": _iso(min(start + rng.randint(5, 25), max(cap, start))),
                "reason": "awaiting_employer_replies" if rng.random() < 0.8 else "employer_break",
            }
        )
    if workplace is not None and rng.random() < 0.05 and workplace - meeting > 16:
        start = workplace - rng.randint(5, 15)
        pauses.append(
            {
                "kind": "employer_delayed_start",
                "start_on": _iso(start),
                "end_on": _iso(workplace - 1),
                "start_confirmed_on": _iso(start - rng.randint(1, 10)),
            }
        )


def _add_plan(
    rng: random.Random, case: dict[str, Any], meeting: int, workplace: int | None, cap: int
) -> None:
    roll = rng.random()
    if workplace is None:
        if roll < 0.4 and cap > meeting:
            case["vocational_plan_on"] = _iso(rng.randint(meeting, cap))
        return
    if roll < 0.88:
        case["vocational_plan_on"] = _iso(max(meeting, workplace - rng.randint(0, 10)))
    elif roll < 0.94:
        case["vocational_plan_on"] = _iso(min(cap, workplace + rng.randint(1, 20)))


def _add_meetings(
    rng: random.Random,
    case: dict[str, Any],
    *,
    service: int,
    meeting: int,
    last: int,
    end_reason: str | None,
) -> None:
    meetings: list[dict[str, Any]] = case["meetings"]
    meetings.append(
        {
            "on": _iso(meeting),
            "mode": "in_person",
            "place": "office",
            "minutes": 60,
            "kind": "regular",
        }
    )
    many = rng.random() < 0.03
    low, high = (6, 9) if many else ((12, 25) if service == JOB_COACHING else (9, 20))
    final_on = last - rng.randint(0, 3) if end_reason == "completed" else None
    on = meeting + rng.randint(low, high)
    stop = final_on if final_on is not None else last
    while on < stop:
        roll = rng.random()
        if roll < 0.2:
            item = {
                "on": _iso(on),
                "mode": "video",
                "place": "remote",
                "minutes": 45,
                "kind": "regular",
            }
        elif roll < 0.3:
            item = {
                "on": _iso(on),
                "mode": "in_person",
                "place": "network_partner",
                "minutes": 90,
                "kind": "network",
            }
        else:
            place = "workplace" if case["workplace_phase_started_on"] and roll < 0.6 else "office"
            item = {
                "on": _iso(on),
                "mode": "in_person",
                "place": place,
                "minutes": rng.choice((30, 45, 60, 60)),
                "kind": "regular",
            }
        meetings.append(item)
        on += rng.randint(low, high)
    if final_on is not None and final_on > meeting:
        roll = rng.random()
        if roll < 0.95:
            place = "workplace" if roll < 0.82 else ("office" if roll < 0.92 else "network_partner")
            minutes = 60 if rng.random() < 0.9 else rng.choice((30, 45))
            meetings.append(
                {
                    "on": _iso(final_on),
                    "mode": "in_person",
                    "place": place,
                    "minutes": minutes,
                    "kind": "final_discussion",
                }
            )


def _add_days(
    rng: random.Random, case: dict[str, Any], service: int, first: int, last: int
) -> None:
    days: list[dict[str, Any]] = case["days"]
    quota = _QUOTA[service] + (rng.randint(1, 4) if rng.random() < 0.02 else 0)
    per_week = rng.randint(3, 5) if service == WORK_TRIAL else rng.randint(2, 3)
    flex = rng.random() < 0.12
    paid = rng.random() < 0.98 if service == JOB_COACHING else rng.random() < 0.05
    wrong_meals = service == JOB_COACHING and rng.random() < 0.02
    day_price = _PRICE_DAY[service]
    realized = 0
    week = first - (first + 6) % 7
    while realized < quota:
        for offset in range(per_week):
            on = week + offset
            if on < first:
                continue
            if on > last or realized >= quota:
                return
            roll = rng.random()
            if roll < 0.9:
                realized += 1
                days.append(
                    _realized_day(
                        rng,
                        on,
                        flex=flex,
                        paid=paid,
                        wrong_meals=wrong_meals,
                        service=service,
                        day_price=day_price,
                    )
                )
            else:
                billed = [day_price] if roll > 0.995 else []
                status = "absent_illness" if roll < 0.97 else "absent_other"
                days.append(
                    {
                        "on": _iso(on),
                        "status": status,
                        "hours_total": 0.0,
                        "hours_at_workplace": 0.0,
                        "paid_work": False,
                        "flex_reason": None,
                        "billed_price_types": billed,
                    }
                )
        week += 7


#: (hours_total, hours_at_workplace) of an ordinary day, drawn uniformly.
_HOURS = tuple(
    (total, total - off) for total in (6.0, 6.0, 6.5, 7.0, 7.5) for off in (0.0, 0.5, 1.0)
)


def _realized_day(
    rng: random.Random,
    on: int,
    *,
    flex: bool,
    paid: bool,
    wrong_meals: bool,
    service: int,
    day_price: int,
) -> dict[str, Any]:
    roll = rng.random()
    flex_reason: str | None = None
    if flex:
        total, at_work, flex_reason = 4.0, 3.5, "reduced_capacity"
    elif roll < 0.015:
        total, at_work = 5.5, 4.5
    elif roll < 0.018:
        total, at_work, flex_reason = 4.5, 4.0, "workplace"
    else:
        total, at_work = _HOURS[int(roll * 1000) % len(_HOURS)]
    billed = [day_price]
    if (service == WORK_TRIAL and not paid) or (wrong_meals and roll > 0.5):
        billed.append(_PRICE_MEALS)
    return {
        "on": _iso(on),
        "status": "realized",
        "hours_total": total,
        "hours_at_workplace": at_work,
        "paid_work": paid,
        "flex_reason": flex_reason,
        "billed_price_types": billed,
    }


def _add_feedback(rng: random.Random, case: dict[str, Any], end: int, cap: int) -> None:
    roll = rng.random()
    if roll < 0.82:
        sent: int | None = end + rng.randint(2, 14)
    elif roll < 0.9:
        sent = end + rng.randint(15, 45)
    else:
        sent = None
    if sent is None or sent > cap:
        return
    case["feedback_sent_on"] = _iso(sent)
    extended = any(
        p["kind"] == "illness" and not p["remote_participation_possible"] for p in case["pauses"]
    )
    if extended:
        case["feedback_records_extensions"] = rng.random() < 0.85


def _apply_touch(case: dict[str, Any], spec: CaseSeed) -> dict[str, Any]:
    if spec.version == 0:
        return case
    on = _iso(spec.touched_on)
    if case["ended_on"] is not None:
        if case["feedback_sent_on"] is None:
            case["feedback_sent_on"] = on
        else:
            case["feedback_records_extensions"] = spec.version % 2 == 1
    elif case["first_contact_on"] is None:
        case["first_contact_on"] = on
    elif case["first_meeting_on"] is None:
        case["first_meeting_on"] = on
    else:
        minutes = 30 + spec.version % 60
        case["meetings"].append(
            {
                "on": on,
                "mode": "in_person",
                "place": "office",
                "minutes": minutes,
                "kind": "regular",
            }
        )
    return case


def invalid_kind_for(position: int) -> str:
    """Cycle through every kind of invalid item, so any share above a few shows them all."""
    return _INVALID_KINDS[position % len(_INVALID_KINDS)]


def make_invalid(case: dict[str, Any], kind: str, rng: random.Random) -> dict[str, Any]:
    """Break ``case`` on purpose in the way ``kind`` names (see provider-api.md, Bad input)."""
    match kind:
        case "unknown_enum":
            if case["meetings"] and rng.random() < 0.5:
                case["meetings"][0]["mode"] = "telepathy"
            else:
                case["service"] = "work_experiment"
        case "negative_hours":
            case["days"].append(
                {
                    "on": case["decision_received_on"],
                    "status": "realized",
                    "hours_total": -2.0,
                    "hours_at_workplace": 1.0,
                    "paid_work": False,
                    "flex_reason": None,
                    "billed_price_types": [],
                }
            )
        case "ended_before_first_meeting":
            meeting = case["first_meeting_on"] or case["decision_received_on"]
            case["first_meeting_on"] = meeting
            case["ended_on"] = _iso(date.fromisoformat(meeting).toordinal() - rng.randint(3, 30))
            case["end_reason"] = "completed"
        case "identity_code":
            case["case_url"] = f"{case['case_url']}?note=asiakas%20{IDENTITY_CODE_LIKE}"
            case["notes"] = f"Asiakas {IDENTITY_CODE_LIKE} soitti"
        case "wrong_types":
            if rng.random() < 0.5:
                case["decision_received_on"] = 20250310
            else:
                case["days"] = "many"
        case "duplicate_ref":
            case["language"] = "sv" if case["language"] != "sv" else "fi"
            case["meetings"] = case["meetings"][:1]
        case _:
            raise ValueError(f"unknown invalid kind {kind!r}")
    return case
