"""The daily breach reminder: one summary per quality recipient, not one alert per breach.

A breach is alerted once, to the owner and quality staff, when it happens. After that,
quality staff get one reminder per Finnish working day while breaches stay unresolved
and unacknowledged: how many there are, by rule and by office, and the most overdue
ones by reference. A national picture has tens of thousands of breached deadlines on a
bad day; one ledger row and one digest section per recipient per day carries them all,
where a row per breached deadline per day would grow the ledger by that much daily.

Pure: built from the breached current deadlines (narrow rows), the breaches alerted in
this run (they are in the same digest already) and the suppressions in force.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from models.candidates import BreachedRef
from models.ledger import Suppression

#: Offices and overdue references listed in a reminder; the totals cover everything.
REMINDER_TOP = 10


@dataclass(frozen=True, slots=True)
class Reminder:
    """What one reminder says: totals, the largest groups and the most overdue items."""

    total: int
    providers: int
    offices: int
    by_rule: tuple[tuple[str, int], ...]  # (rule id, breached), most first
    by_office: tuple[tuple[str, str, int], ...]  # (provider, office or "-", breached)
    oldest: tuple[BreachedRef, ...]  # the items listed: the most overdue first (backlog: newest)

    def to_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "providers": self.providers,
            "offices": self.offices,
            "by_rule": [list(pair) for pair in self.by_rule],
            "by_office": [list(group) for group in self.by_office],
            "oldest": [
                {
                    "provider_id": ref.provider_id,
                    "subject_kind": ref.subject_kind,
                    "subject": ref.subject,
                    "rule": ref.rule,
                    "office_id": ref.office_id,
                    "due_on": ref.due_on.isoformat() if ref.due_on else None,
                }
                for ref in self.oldest
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Reminder:
        def rows(name: str) -> list[list[object]]:
            value = data.get(name)
            return [list(row) for row in value] if isinstance(value, list) else []

        oldest = data.get("oldest")
        return cls(
            total=int(str(data.get("total", 0))),
            providers=int(str(data.get("providers", 0))),
            offices=int(str(data.get("offices", 0))),
            by_rule=tuple((str(rule), int(str(n))) for rule, n in rows("by_rule")),
            by_office=tuple((str(p), str(o), int(str(n))) for p, o, n in rows("by_office")),
            oldest=tuple(
                BreachedRef(
                    provider_id=str(ref["provider_id"]),
                    subject_kind=str(ref["subject_kind"]),
                    subject=str(ref["subject"]),
                    rule=str(ref["rule"]),
                    office_id=None if ref.get("office_id") is None else str(ref["office_id"]),
                    due_on=date.fromisoformat(str(ref["due_on"])) if ref.get("due_on") else None,
                )
                for ref in (oldest if isinstance(oldest, list) else [])
                if isinstance(ref, dict)
            ),
        )


def summarize_breaches(
    refs: Sequence[BreachedRef], *, top: int = REMINDER_TOP, newest_first: bool = False
) -> Reminder:
    """Totals by rule and by office, and the ``top`` most overdue (``newest_first``: the
    most recently breached, as a backlog summary lists them) of ``refs``."""
    by_rule = Counter(ref.rule for ref in refs)
    by_office = Counter((ref.provider_id, ref.office_id or "-") for ref in refs)
    if newest_first:
        oldest = sorted(
            refs, key=lambda r: (-(r.due_on or date.min).toordinal(), r.provider_id, r.subject)
        )
    else:
        far = date.max
        oldest = sorted(refs, key=lambda r: (r.due_on or far, r.provider_id, r.subject, r.rule))
    return Reminder(
        total=len(refs),
        providers=len({ref.provider_id for ref in refs}),
        offices=len(by_office),
        by_rule=tuple(sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
        by_office=tuple(
            (provider, office, n)
            for (provider, office), n in sorted(by_office.items(), key=lambda kv: (-kv[1], kv[0]))[
                :top
            ]
        ),
        oldest=tuple(oldest[:top]),
    )


Identity = tuple[str, str, str, str]  # provider, subject kind, subject, rule


def still_breached(
    refs: Iterable[BreachedRef],
    *,
    alerted: Iterable[Identity],
    suppressions: Sequence[Suppression],
    today: date,
) -> list[BreachedRef]:
    """The breached deadlines to remind of: not alerted in this run, not acked or silenced."""
    skip = set(alerted)
    quiet = {(s.subject, s.rule) for s in suppressions}
    kept = []
    for ref in refs:
        if (ref.provider_id, ref.subject_kind, ref.subject, ref.rule) in skip:
            continue
        if (ref.subject, ref.rule) in quiet and any(
            s.covers(ref.provider_id, ref.subject, ref.rule, today) for s in suppressions
        ):
            continue
        kept.append(ref)
    return kept


def merge_summaries(summaries: Sequence[Reminder], *, top: int = REMINDER_TOP) -> Reminder:
    """Several providers' backlog summaries as one (each provider's counts are its own, so
    the totals add up and the largest offices of all are among each one's largest)."""
    by_rule: Counter[str] = Counter()
    for summary in summaries:
        by_rule.update(dict(summary.by_rule))
    offices = sorted(
        (group for summary in summaries for group in summary.by_office),
        key=lambda group: (-group[2], group[0], group[1]),
    )
    listed = sorted(
        (ref for summary in summaries for ref in summary.oldest),
        key=lambda r: (-(r.due_on or date.min).toordinal(), r.provider_id, r.subject),
    )
    return Reminder(
        total=sum(summary.total for summary in summaries),
        providers=sum(summary.providers for summary in summaries),
        offices=sum(summary.offices for summary in summaries),
        by_rule=tuple(sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
        by_office=tuple(offices[:top]),
        oldest=tuple(listed[:top]),
    )
