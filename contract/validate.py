"""Validation at the boundary: raw items in, valid payloads and rejections out.

Each raw item is validated once with pydantic, then checked for impossible dates and
hours, duplicate references in the batch and Finnish personal identity codes in any
string. An invalid item becomes a :class:`Rejected` with every error, each naming the
field and the value (identity codes are never echoed). Nothing raises, whatever the
input: non-dict items and garbage are rejected too, with their ref when readable.

Duplicates: items with the same reference and identical content are kept once; items
with the same reference and different content are all rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from contract.hetu import identity_code_paths, withhold
from contract.payloads import AuditPayload, CasePayload, CoachPayload
from contract.references import WITHHELD_ERRORS, normal_reference, personal_data
from contract.rejected import Rejected, RejectedKind

M = TypeVar("M", bound=BaseModel)
#: Dates outside this range are data errors (and would overflow the engine's date arithmetic).
EARLIEST_ON = date(1900, 1, 1)
LATEST_ON = date(2199, 12, 31)


IDENTITY_CODE = "identity code (withheld)"


def _show(value: object) -> str:
    """The value for an error message, shortened; never a value holding an identity code
    (nor a prefix of one: the check reads the whole value first)."""
    if identity_code_paths(value):
        return IDENTITY_CODE
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _loc(parts: Iterable[int | str]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "item"


def _pydantic_errors(exc: ValidationError) -> list[str]:
    messages = []
    for err in exc.errors(include_url=False):
        where = _loc(err["loc"])
        if err["type"] == "missing":
            messages.append(f"{where}: required field missing")
        elif err["type"] in WITHHELD_ERRORS:
            messages.append(f"{where}: {err['msg']}")
        else:
            messages.append(f"{where} {_show(err['input'])}: {err['msg']}")
    return messages


class _Errors(list[str]):
    """Error collector with the date-order check every payload needs."""

    def before(self, name: str, value: date | None, other: str, other_value: date | None) -> None:
        if value is not None and other_value is not None and value < other_value:
            self.append(f"{name} {value} is before {other} {other_value}")


def _day_errors(case: CasePayload, errors: _Errors) -> None:
    first_meeting, ended = case.first_meeting_on, case.ended_on
    seen: set[date] = set()
    for i, day in enumerate(case.days):
        where = f"days[{i}]"
        if day.hours_at_workplace > day.hours_total:
            errors.append(
                f"{where}.hours_at_workplace {day.hours_at_workplace:g} is more than "
                f"hours_total {day.hours_total:g}"
            )
        if first_meeting is None:
            errors.append(f"{where}.on {day.on} is outside the service window: no first_meeting_on")
        elif day.on < first_meeting:
            errors.append(
                f"{where}.on {day.on} is outside the service window: "
                f"before first_meeting_on {first_meeting}"
            )
        if ended is not None and day.on > ended:
            errors.append(
                f"{where}.on {day.on} is outside the service window: after ended_on {ended}"
            )
        if day.on in seen:
            errors.append(f"{where}.on {day.on} appears more than once")
        seen.add(day.on)


def case_errors(case: CasePayload) -> list[str]:
    """Impossible dates and hours of a schema-valid case."""
    errors = _Errors()
    decision, first_meeting, ended = (
        case.decision_received_on,
        case.first_meeting_on,
        case.ended_on,
    )
    errors.before("first_contact_on", case.first_contact_on, "decision_received_on", decision)
    errors.before("first_meeting_on", first_meeting, "decision_received_on", decision)
    errors.before("first_meeting_on", first_meeting, "first_contact_on", case.first_contact_on)
    errors.before(
        "workplace_phase_started_on",
        case.workplace_phase_started_on,
        "first_meeting_on",
        first_meeting,
    )
    if case.workplace_phase_started_on is not None and first_meeting is None:
        errors.append(
            f"workplace_phase_started_on {case.workplace_phase_started_on} without first_meeting_on"
        )
    errors.before("ended_on", ended, "decision_received_on", decision)
    errors.before("ended_on", ended, "first_meeting_on", first_meeting)
    errors.before("feedback_sent_on", case.feedback_sent_on, "ended_on", ended)
    errors.before("vocational_plan_on", case.vocational_plan_on, "decision_received_on", decision)
    if case.end_reason is not None and ended is None:
        errors.append(f"end_reason {case.end_reason!r} without ended_on")
    if ended is not None and case.end_reason is None:
        errors.append(f"ended_on {ended} without end_reason")
    for i, pause in enumerate(case.pauses):
        errors.before(f"pauses[{i}].end_on", pause.end_on, f"pauses[{i}].start_on", pause.start_on)
        errors.before(f"pauses[{i}].start_on", pause.start_on, "decision_received_on", decision)
    for i, meeting in enumerate(case.meetings):
        if (meeting.mode == "in_person") is (meeting.place == "remote"):
            errors.append(
                f"meetings[{i}].place {meeting.place!r} is not possible with mode {meeting.mode!r}"
            )
        errors.before(f"meetings[{i}].on", meeting.on, "decision_received_on", decision)
        errors.before(f"meetings[{i}].on", meeting.on, "first_meeting_on", first_meeting)
    _day_errors(case, errors)
    return errors


def audit_errors(audit: AuditPayload) -> list[str]:
    """Impossible dates and duplicate findings of a schema-valid audit."""
    errors = _Errors()
    errors.before("report_received_on", audit.report_received_on, "visit_on", audit.visit_on)
    errors.before("response_sent_on", audit.response_sent_on, "visit_on", audit.visit_on)
    ids: set[str] = set()
    for i, finding in enumerate(audit.findings):
        where = f"findings[{i}]"
        errors.before(f"{where}.corrected_on", finding.corrected_on, "visit_on", audit.visit_on)
        if finding.finding_id in ids:
            errors.append(f"{where}.finding_id {_show(finding.finding_id)} appears more than once")
        ids.add(finding.finding_id)
    return errors


def coach_errors(coach: CoachPayload) -> list[str]:
    """Impossible absences and a coach substituting for themselves."""
    errors = _Errors()
    for i, absence in enumerate(coach.absent):
        errors.before(
            f"absent[{i}].end_on", absence.end_on, f"absent[{i}].start_on", absence.start_on
        )
    if coach.substitute_id is not None and coach.substitute_id == coach.id:
        errors.append(f"substitute_id {_show(coach.substitute_id)} is the coach itself")
    return errors


def _ref(item: object, ref_field: str) -> str | None:
    """The item's reference, NFKC-normalised, when it is a valid one (an invalid one may be
    personal data or hold control characters: never kept or shown)."""
    if isinstance(item, dict):
        ref = item.get(ref_field)
        if isinstance(ref, str) and ref:
            normal = normal_reference(ref)
            if normal is not None and personal_data(normal) is None:
                return withhold(normal)
    return None


def _as_list(raw_items: object) -> list[Any]:
    if isinstance(raw_items, str | bytes | Mapping) or not isinstance(raw_items, Iterable):
        return [raw_items]
    return list(raw_items)


def _conflicts(refs: list[str | None], items: list[Any]) -> dict[str, int]:
    """Refs that occur with different content, with how often they occur."""
    first_of: dict[str, Any] = {}
    counts: dict[str, int] = {}
    differing: set[str] = set()
    for ref, item in zip(refs, items, strict=True):
        if ref is not None:
            counts[ref] = counts.get(ref, 0) + 1
            if ref not in first_of:
                first_of[ref] = item
            elif first_of[ref] != item:
                differing.add(ref)
    return {ref: counts[ref] for ref in differing}


def _dated_fields(model: type[Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The model's date/datetime fields and its fields holding nested payloads (cached)."""
    found = _DATED.get(model)
    if found is None:
        found = _DATED[model] = _find_dated(model)
    return found


_DATED: dict[type[Any], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _find_dated(model: type[Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Works for the wire models and the pydantic dataclasses nested in them."""
    fields = getattr(model, "model_fields", None) or model.__pydantic_fields__
    dated: list[str] = []
    nested: list[str] = []
    for name, info in fields.items():
        text = str(info.annotation).lower()
        if "date" in text:
            dated.append(name)
        elif "payload" in text:
            nested.append(name)
    return tuple(dated), tuple(nested)


def _out_of_range(value: date | datetime) -> bool:
    day = value.date() if isinstance(value, datetime) else value
    return not EARLIEST_ON <= day <= LATEST_ON


def range_errors(payload: object, where: str = "") -> list[str]:
    """Every date or timestamp of ``payload`` outside EARLIEST_ON..LATEST_ON."""
    errors: list[str] = []
    dated, nested = _dated_fields(type(payload))
    for name in dated:
        value = getattr(payload, name)
        if value is not None and _out_of_range(value):
            at = f"{where}.{name}" if where else name
            errors.append(f"{at} {value} is outside the supported range {EARLIEST_ON}..{LATEST_ON}")
    for name in nested:
        items = getattr(payload, name)
        if not items:
            continue
        item_dated, item_nested = _dated_fields(type(items[0]))
        if not item_nested and not any(  # the common case: all in range, one quick pass
            (value := getattr(item, field)) is not None and _out_of_range(value)
            for item in items
            for field in item_dated
        ):
            continue
        for index, item in enumerate(items):
            errors += range_errors(item, f"{where + '.' if where else ''}{name}[{index}]")
    return errors


def _check_one(
    item: object, model: type[M], checks: Callable[[M], list[str]]
) -> tuple[M | None, list[str]]:
    payload: M | None = None
    errors: list[str] = []
    try:
        payload = model.model_validate(item)
    except ValidationError as exc:
        errors = _pydantic_errors(exc)
    else:
        errors = range_errors(payload) or checks(payload)
    codes = identity_code_paths(item)
    if codes:
        errors = [withhold(error) for error in errors]
        errors.extend(f"{path}: {IDENTITY_CODE}" for path in codes)
    return payload, errors


def _validate(
    raw_items: object,
    *,
    kind: RejectedKind,
    ref_field: str,
    model: type[M],
    checks: Callable[[M], list[str]],
) -> tuple[list[M], list[Rejected]]:
    return _validate_batch(_as_list(raw_items), kind, ref_field, model, checks)


def _validate_batch(
    items: list[Any],
    kind: RejectedKind,
    ref_field: str,
    model: type[M],
    checks: Callable[[M], list[str]],
) -> tuple[list[M], list[Rejected]]:
    refs = [_ref(item, ref_field) for item in items]
    conflicting = _conflicts(refs, items)
    valid: list[M] = []
    rejected: list[Rejected] = []
    kept: set[str | None] = set()
    for ref, item in zip(refs, items, strict=True):
        if ref in kept:
            continue  # an identical duplicate of a valid item: kept once
        payload, errors = _check_one(item, model, checks)
        if ref in conflicting:
            errors.insert(
                0,
                f"{ref_field} {ref!r} appears {conflicting[ref]} times in one batch "
                "with different content",
            )
        if errors or payload is None:
            rejected.append(Rejected(kind=kind, ref=ref, errors=tuple(errors), raw=item))
        else:
            valid.append(payload)
            kept.add(ref or "")  # a valid item always has its ref
    return valid, rejected


def validate_cases(raw_items: object) -> tuple[list[CasePayload], list[Rejected]]:
    """Valid cases and rejected items of one batch (page)."""
    return _validate(
        raw_items, kind="case", ref_field="case_ref", model=CasePayload, checks=case_errors
    )


def validate_audits(raw_items: object) -> tuple[list[AuditPayload], list[Rejected]]:
    """Valid audits and rejected items of one batch (page)."""
    return _validate(
        raw_items, kind="audit", ref_field="audit_id", model=AuditPayload, checks=audit_errors
    )


def validate_staff(raw_items: object) -> tuple[list[CoachPayload], list[Rejected]]:
    """Valid coaches and rejected items of the staff list."""
    return _validate(
        raw_items, kind="coach", ref_field="id", model=CoachPayload, checks=coach_errors
    )
