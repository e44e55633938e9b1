"""Synthetic offices, coaches and Kela audits for the reference provider.

Audit findings follow the seed statistics of ``rules.md`` (last section): per 8 audits,
8 major deviations (first aid 4, feedback late 3, missing work pair 1), 23 minor
(vocational plan 5, mandatory measures 3, feedback late 2, closing follow-ups 2, wrong
price types 2, others 9), 27 development suggestions and 2 strengths. Counts scale with
the number of audits by largest remainder, so 8 audits reproduce the seed exactly.
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from typing import Any

from reference.generator_clock import format_timestamp, local_epoch

_CITIES = ("HEL", "TRE", "TKU", "OUL", "JKL", "KUO", "LHT", "POR", "VAA", "JNS", "ROV", "SJK")

#: (severity, area, safety_related, summary, count per 8 audits)
FINDING_SHAPE: tuple[tuple[str, str, bool, str, int], ...] = (
    ("major", "client_safety", True, "First-aid training missing or expired for coaches", 4),
    ("major", "client_process", False, "Rehabilitation feedback delivered to Kela late", 3),
    ("major", "staff", True, "No work pair (substitute coach) available", 1),
    ("minor", "documentation", False, "Vocational plan missing from case records", 5),
    ("minor", "client_process", False, "Mandatory service measures not carried out", 3),
    ("minor", "client_process", False, "Rehabilitation feedback delivered late", 2),
    ("minor", "client_process", False, "Closing follow-up contacts not documented", 2),
    ("minor", "documentation", False, "Wrong price types billed", 2),
    ("minor", "quality_management", False, "Quality system document out of date", 3),
    ("minor", "premises_equipment", False, "Accessibility of meeting room not documented", 2),
    ("minor", "client_rights", False, "Client not informed of complaint procedure", 2),
    ("minor", "staff", False, "Induction of new coach not documented", 2),
    ("suggestion", "quality_management", False, "Collect client feedback systematically", 9),
    ("suggestion", "client_process", False, "Use a shared template for the final discussion", 9),
    ("suggestion", "documentation", False, "Record meeting modes consistently", 9),
    ("strength", "client_process", False, "Close co-operation with local employers", 2),
)
SEED_AUDITS = 8


def office_ids(count: int) -> list[str]:
    """Office ids such as ``HEL-1``, ``TRE-1``, ... ``HEL-2`` once the cities run out."""
    return [f"{_CITIES[i % len(_CITIES)]}-{i // len(_CITIES) + 1}" for i in range(count)]


def build_staff(
    rng: random.Random, offices: list[str], cases_per_office: list[int], today_ordinal: int
) -> list[dict[str, Any]]:
    """Coaches per office: ~1 per 30 cases; the last office (when >1) stays below 3 active."""
    staff: list[dict[str, Any]] = []
    number = 0
    for position, (office, cases) in enumerate(zip(offices, cases_per_office, strict=True)):
        small = position == len(offices) - 1 and len(offices) > 1
        team = 2 if small else max(3, math.ceil(cases / 30))
        first = number
        for _ in range(team):
            number += 1
            staff.append(_coach(rng, f"c-{number:03d}", office, today_ordinal))
        ids = [c["id"] for c in staff[first:]]
        for coach in staff[first:]:
            others = [i for i in ids if i != coach["id"]]
            if others and rng.random() < 0.85:
                coach["substitute_id"] = rng.choice(others)
        if not small and team >= 4:
            staff[first + team - 1]["active"] = False  # left the team; history keeps the id
    return staff


def _coach(rng: random.Random, coach_id: str, office: str, today: int) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.08:
        valid_until = today - rng.randint(1, 120)  # expired
    elif roll < 0.16:
        valid_until = today + rng.randint(0, 60)  # expiring soon
    else:
        valid_until = today + rng.randint(61, 3 * 365)
    absent: list[dict[str, str]] = []
    roll = rng.random()
    if roll < 0.1:
        start = today - rng.randint(0, 10)  # absent today
        absent.append(_absence(start, start + rng.randint(7, 28)))
    elif roll < 0.25:
        start = today + rng.randint(5, 90)
        absent.append(_absence(start, start + rng.randint(5, 28)))
    return {
        "id": coach_id,
        "office_id": office,
        "active": True,
        "language": "sv" if rng.random() < 0.08 else "fi",
        "first_aid_valid_until": _iso(valid_until),
        "substitute_id": None,
        "absent": absent,
    }


def _absence(start: int, end: int) -> dict[str, str]:
    return {"start_on": _iso(start), "end_on": _iso(end)}


def _iso(ordinal: int) -> str:
    return datetime.fromordinal(ordinal).date().isoformat()


def audit_count(cases: int) -> int:
    """Audits scale with provider size: one per ~750 cases, at least 1, at most 64."""
    return max(1, min(64, math.ceil(cases / 750)))


def scaled_counts(audits: int) -> list[int]:
    """Each FINDING_SHAPE row's count for ``audits`` audits (largest remainder per severity)."""
    counts = [0] * len(FINDING_SHAPE)
    for severity in ("major", "minor", "suggestion", "strength"):
        rows = [i for i, row in enumerate(FINDING_SHAPE) if row[0] == severity]
        exact = [FINDING_SHAPE[i][4] * audits / SEED_AUDITS for i in rows]
        total = round(sum(exact))
        floors = [math.floor(x) for x in exact]
        order = sorted(range(len(rows)), key=lambda k: (floors[k] - exact[k], k))
        for k in order[: total - sum(floors)]:
            floors[k] += 1
        for k, i in enumerate(rows):
            counts[i] = floors[k]
    return counts


def audits_for(
    rng: random.Random, offices: list[str], today_ordinal: int, cases: int
) -> list[dict[str, Any]]:
    """``audit_count(cases)`` audits with findings shaped by the seed statistics."""
    return _audits(rng, offices, today_ordinal, audit_count(cases))


def _audits(rng: random.Random, offices: list[str], today: int, count: int) -> list[dict[str, Any]]:
    visits = [
        *sorted(today - rng.randint(20, 730) for _ in range(count - 1)),
        today - rng.randint(3, 12),
    ]
    audits: list[dict[str, Any]] = []
    for number, visit in enumerate(visits, start=1):
        report = None if visit + 14 > today else visit + rng.randint(9, 20)
        response = None
        if report is not None:
            response = visit + (rng.randint(18, 28) if rng.random() < 0.8 else rng.randint(29, 45))
            response = None if response > today or rng.random() < 0.05 else response
        year = datetime.fromordinal(visit).year
        audits.append(
            {
                "audit_id": f"AUD-{year}-{number:02d}",
                "office_id": rng.choice(offices) if rng.random() < 0.75 else None,
                "visit_on": _iso(visit),
                "report_received_on": _iso(report) if report is not None else None,
                "response_sent_on": _iso(response) if response is not None else None,
                "findings": [],
                "updated_at": "",
            }
        )
    counts = scaled_counts(count)
    for row, how_many in zip(FINDING_SHAPE, counts, strict=True):
        for _ in range(how_many):
            audit = rng.choice(audits)
            audit["findings"].append(_finding(rng, audit, row, len(audit["findings"]) + 1, today))
    for audit in audits:
        last = max(
            datetime.fromisoformat(d).toordinal()
            for d in (audit["visit_on"], audit["report_received_on"], audit["response_sent_on"])
            if d is not None
        )
        audit["updated_at"] = format_timestamp(
            local_epoch(min(last, today - 1), 15 * 3600 + rng.randint(0, 3599))
        )
    return audits


def _finding(
    rng: random.Random,
    audit: dict[str, Any],
    row: tuple[str, str, bool, str, int],
    number: int,
    today: int,
) -> dict[str, Any]:
    severity, area, safety, summary, _ = row
    corrected = None
    report = audit["report_received_on"]
    if report is not None and severity in {"major", "minor"} and rng.random() < 0.8:
        base = datetime.fromisoformat(report).toordinal()
        corrected_ordinal = base + (
            rng.randint(0, 2) if severity == "major" else rng.randint(3, 20)
        )
        corrected = _iso(min(corrected_ordinal, today - 1)) if corrected_ordinal <= today else None
    return {
        "finding_id": f"F{number}",
        "severity": severity,
        "area": area,
        "safety_related": safety,
        "summary": summary,
        "corrected_on": corrected,
    }
