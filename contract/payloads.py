"""Provider Case API v1 wire shapes (``*Payload``), validated with pydantic.

These are the contract of `provider-api.md`: the reference server serves them, the
client parses them, the deadline engine evaluates them. Pure: pydantic only, so the
engine may import this module without pulling in any I/O library.

Forward compatibility: unknown fields are ignored (a v1 provider may add fields);
unknown enum values are errors.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from contract.references import Link, Reference

Service = Literal["work_trial", "job_coaching"]
Language = Literal["fi", "sv", "en"]
PauseKind = Literal["illness", "sequencing", "employer_delayed_start", "interpreter_unavailable"]
SequencingReason = Literal["awaiting_employer_replies", "employer_break"]
MeetingMode = Literal["in_person", "video"]
MeetingPlace = Literal["office", "workplace", "network_partner", "remote"]
MeetingKind = Literal["regular", "network", "final_discussion"]
DayStatus = Literal["realized", "absent_illness", "absent_other"]
FlexReason = Literal["reduced_capacity", "workplace"]
EndReason = Literal["completed", "interrupted"]
Severity = Literal["major", "minor", "suggestion", "strength"]
QualityArea = Literal[
    "quality_management",
    "staff",
    "premises_equipment",
    "client_safety",
    "client_rights",
    "client_process",
    "documentation",
]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)


#: A case's pauses, meetings and days are frozen, slotted pydantic dataclasses: a case
#: holds dozens of them and a national sync validates millions, where each one as a
#: BaseModel costs more to validate (bench/HISTORY.md, "figures that were in the code").
_item = pydantic_dataclass(
    frozen=True, slots=True, config=ConfigDict(extra="ignore", str_strip_whitespace=False)
)


@_item
class PausePayload:
    kind: PauseKind
    start_on: date
    end_on: date
    remote_participation_possible: bool | None = None  # illness only
    reason: SequencingReason | None = None  # sequencing only
    start_confirmed_on: date | None = None  # employer_delayed_start only


@_item
class MeetingPayload:
    on: date
    mode: MeetingMode
    place: MeetingPlace
    minutes: int = Field(ge=0, le=24 * 60)
    kind: MeetingKind = "regular"


@_item
class DayPayload:
    on: date
    status: DayStatus
    hours_total: float = Field(default=0.0, ge=0, le=24)
    hours_at_workplace: float = Field(default=0.0, ge=0, le=24)
    paid_work: bool = False
    flex_reason: FlexReason | None = None
    billed_price_types: tuple[int, ...] = ()


class CasePayload(_Wire):
    case_ref: Reference
    service: Service
    office_id: Reference
    coach_id: Reference
    language: Language = "fi"
    case_url: Link | None = Field(default=None, max_length=2048)
    decision_received_on: date
    first_contact_on: date | None = None
    first_meeting_on: date | None = None
    workplace_phase_started_on: date | None = None
    ended_on: date | None = None
    end_reason: EndReason | None = None
    feedback_sent_on: date | None = None
    feedback_records_extensions: bool | None = None
    vocational_plan_on: date | None = None
    pauses: tuple[PausePayload, ...] = ()
    meetings: tuple[MeetingPayload, ...] = ()
    days: tuple[DayPayload, ...] = ()
    updated_at: AwareDatetime


class FindingPayload(_Wire):
    finding_id: Reference
    severity: Severity
    area: QualityArea
    safety_related: bool = False
    summary: str = Field(default="", max_length=2000)
    corrected_on: date | None = None


class AuditPayload(_Wire):
    audit_id: Reference
    office_id: Reference | None = None
    visit_on: date
    report_received_on: date | None = None
    response_sent_on: date | None = None
    findings: tuple[FindingPayload, ...] = ()
    updated_at: AwareDatetime


class AbsencePayload(_Wire):
    start_on: date
    end_on: date


class CoachPayload(_Wire):
    id: Reference
    office_id: Reference
    active: bool = True
    language: Language = "fi"
    first_aid_valid_until: date | None = None
    substitute_id: Reference | None = None
    absent: tuple[AbsencePayload, ...] = ()


class PagePayload(BaseModel):
    """One page of a collection: items stay raw so each is validated on its own."""

    items: list[object]
    next_cursor: str | None = None


class HealthPayload(BaseModel):
    status: Literal["ok"]
    api_version: Literal["1"]
