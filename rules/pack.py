"""The rule pack: every parameter of rules.md as versioned data with its source.

A pack has an id and the date from which it is in force; a deadline is computed with
the pack in force on its trigger date. Parameters are keyed ``RULE-ID.name``. A value
of ``None`` disables the rule (reported as ``unconfigured``). Operators override values
per provider (their Kela contract): :meth:`RulePack.with_overrides` returns a new pack
whose overridden parameters say so in every explanation.

Alert lead times are not here: they are alert policy (notifications), not rules.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from types import MappingProxyType

from core.errors import InputError

Value = int | float | None

# Sources (rules.md): SEED = Kela's 2025 partner-meeting deck; K-JARJ = kela.fi
# "Kuntoutuksen järjestäminen"; JOB-EN = kela.fi/job-coaching.


@dataclass(frozen=True, slots=True)
class Parameter:
    """One rule parameter with where it comes from and how sure we are."""

    name: str  # "RULE-ID.param"
    value: Value
    source: str
    confidence: str  # high | medium | low | unknown
    provisional: bool = False
    note: str = ""
    overridden: bool = False
    override_note: str = ""

    def describe(self) -> str:
        """``START-2W.days = 14 (SEED, high)`` plus provisional / override marks."""
        shown = "disabled (no value)" if self.value is None else f"{self.value:g}"
        text = f"{self.name} = {shown} ({self.source}, {self.confidence})"
        if self.provisional:
            text += " PROVISIONAL"
        if self.overridden:
            text += f" override{self.override_note}"
        return text


@dataclass(frozen=True, slots=True)
class RulePack:
    """A versioned set of rule parameters."""

    id: str
    valid_from: date
    parameters: Mapping[str, Parameter]
    description: str = ""
    #: Applied to a trigger before ``valid_from`` (decision 7: said, and provisional).
    before_valid_from: bool = False
    _values: Mapping[str, Value] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_values", {key: param.value for key, param in self.parameters.items()}
        )

    def value(self, key: str) -> Value:
        """The parameter's value (None = disabled); KeyError for an unknown key."""
        return self._values[key]

    def number(self, key: str) -> float:
        """A parameter that must have a value (rules that cannot be disabled)."""
        value = self._values[key]
        if value is None:
            raise InputError(f"rule pack {self.id!r}: parameter {key} needs a value")
        return value

    def days(self, key: str) -> int:
        """A whole-number parameter that must have a value."""
        return int(self.number(key))

    def param(self, key: str) -> Parameter:
        """The parameter record for explanations."""
        return self.parameters[key]

    def with_overrides(self, overrides: Mapping[str, Value], *, by: str | None = None) -> RulePack:
        """A new pack with ``overrides`` applied; unknown keys are an InputError."""
        unknown = sorted(set(overrides) - set(self.parameters))
        if unknown:
            raise InputError(
                f"rule pack {self.id!r}: unknown parameter(s) {', '.join(unknown)} in overrides"
            )
        note = f" for provider {by}" if by else ""
        params = dict(self.parameters)
        for key, value in overrides.items():
            params[key] = replace(params[key], value=value, overridden=True, override_note=note)
        return replace(self, parameters=MappingProxyType(params))

    def applied_before_valid_from(self) -> RulePack:
        """This pack marked as used for a trigger before its ``valid_from`` (decision 7)."""
        return replace(self, before_valid_from=True)

    def provisional_parameters(self) -> tuple[str, ...]:
        """Keys of parameters whose values are not verified (shown in every report)."""
        return tuple(key for key, param in self.parameters.items() if param.provisional)

    def overridden_parameters(self) -> tuple[str, ...]:
        """Keys of parameters changed by an operator override."""
        return tuple(key for key, param in self.parameters.items() if param.overridden)


def _p(
    name: str,
    value: Value,
    source: str,
    confidence: str = "high",
    *,
    provisional: bool = False,
    note: str = "",
) -> Parameter:
    return Parameter(name, value, source, confidence, provisional, note)


_KELA_2025 = (
    _p("CONTACT-NEXT-WD.working_days", 1, "K-JARJ", "medium", note="next working day"),
    _p("FIRST-MEETING-1W.days", 7, "K-JARJ", "medium"),
    _p("START-2W.days", 14, "SEED"),
    _p("WORKPLACE-1M.months", 1, "SEED"),
    _p("WORKPLACE-1M.sequencing_max_days", 21, "SEED", note="awaiting_employer_replies"),
    _p("ILLNESS-EXTENSION.illness_extension_max_days", 14, "SEED", note="in total"),
    _p("TOTAL-DURATION.work_trial_months", 5, "SEED"),
    _p("TOTAL-DURATION.job_coaching_months", 13, "JOB-EN"),
    _p("DAY-QUOTA.work_trial", 45, "SEED"),
    _p("DAY-QUOTA.job_coaching", 95, "JOB-EN"),
    _p("DAY-QUOTA.warn_before", 5, "SEED", note="warn at quota - 5"),
    _p("DAY-LENGTH.min_hours", 6, "SEED"),
    _p("DAY-LENGTH.min_workplace_hours", 5, "SEED"),
    _p("MEALS-PT8.price_type", 8, "SEED"),
    _p("TV-MEETINGS-MAX.max", 25, "JOB-EN"),
    _p("TV-MEETINGS-MAX.warn_at", 22, "JOB-EN"),
    _p("TK-MEETINGS-MAX.max", None, "SEED", "unknown", note="cap not found: disabled"),
    _p("TK-MEETINGS-MAX.warn_at", None, "SEED", "unknown", note="None = warn at the cap"),
    _p("VIDEO-MEETINGS-MAX.work_trial", None, "SEED", "unknown", note="cap not found"),
    _p("VIDEO-MEETINGS-MAX.job_coaching", None, "SEED", "unknown", note="cap not found"),
    _p("FINAL-DISCUSSION.minutes", 60, "SEED"),
    _p(
        "FEEDBACK-DUE.feedback_due_days",
        14,
        "SEED",
        "unverified",
        provisional=True,
        note="not verified against the TK/TV service description",
    ),
    _p(
        "VOCATIONAL-PLAN.days_after_workplace_start",
        0,
        "SEED",
        "unverified",
        provisional=True,
        note="timing not verified: due when the workplace phase starts",
    ),
    _p(
        "EMPLOYER-BREAK-LONG.employer_break_max_days",
        14,
        "SEED",
        "unverified",
        provisional=True,
        note='the seed says "a short time, e.g. a week"',
    ),
    _p("AUDIT-REPORT-EXPECTED.days", 14, "SEED"),
    _p("AUDIT-RESPONSE-4W.days", 28, "SEED"),
    _p("AUDIT-MAJOR-NOW.days", 0, "SEED"),
    _p("COACH-TEAM-MIN-3.min", 3, "SEED"),
    _p("FIRST-AID-VALID.warn_days", 60, "SEED"),
)

KELA_TK_TV_2025 = RulePack(
    id="kela-tk-tv-2025",
    valid_from=date(2025, 1, 1),
    parameters=MappingProxyType({param.name: param for param in _KELA_2025}),
    description="Kela work trial and job coaching service descriptions as of 2025",
)

#: Every known pack by id. Add a new version here; never change a released one.
PACKS: Mapping[str, RulePack] = MappingProxyType({KELA_TK_TV_2025.id: KELA_TK_TV_2025})

_BY_START = sorted(PACKS.values(), key=lambda pack: pack.valid_from)
_STARTS = [pack.valid_from for pack in _BY_START]


def get_pack(pack_id: str) -> RulePack:
    """The pack with ``pack_id``; an InputError naming it and the known ids otherwise."""
    try:
        return PACKS[pack_id]
    except KeyError:
        known = ", ".join(sorted(PACKS))
        raise InputError(f"unknown rule pack {pack_id!r}; known packs: {known}") from None


def pack_in_force(trigger_on: date) -> RulePack:
    """The newest pack valid on ``trigger_on`` (the oldest pack for earlier dates)."""
    index = bisect.bisect_right(_STARTS, trigger_on) - 1
    return _BY_START[max(index, 0)]
