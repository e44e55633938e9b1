"""The compliance report (daily or weekly): per office, per rule, with reasons.

Pure: :func:`build_report` turns deadlines, acknowledgements, provisional parameters
and the breach history into :class:`ReportData`; :func:`render_html` turns that into
one self-contained HTML file (inline CSS and an inline SVG chart; no scripts, no
external resources). Case references, rule ids, dates and the engine's reasons only:
never personal data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from jinja2 import Environment, PackageLoader, select_autoescape

from notifications.rule_titles import Language, rule_title
from pipeline.rows import DeadlineRow, ProvisionalRow, deadline_row
from rules.deadline import Deadline, Status

ReportKind = Literal["daily", "weekly"]

MET = frozenset({Status.MET, Status.OK})
AT_RISK = frozenset({Status.DUE_SOON, Status.AT_RISK})


@dataclass(frozen=True, slots=True)
class RuleCounts:
    rule: str
    met: int = 0
    breached: int = 0  # breached now
    met_late: int = 0  # met after the due date (history, not a current breach)
    at_risk: int = 0
    other: int = 0
    title: str = ""  # the rule in the reader's language

    @property
    def total(self) -> int:
        return self.met + self.breached + self.met_late + self.at_risk + self.other


@dataclass(frozen=True, slots=True)
class OfficeSection:
    provider_id: str
    office_id: str
    rules: tuple[RuleCounts, ...]
    breaches: tuple[DeadlineRow, ...]

    @property
    def breached(self) -> int:
        return sum(r.breached for r in self.rules)

    @property
    def at_risk(self) -> int:
        return sum(r.at_risk for r in self.rules)

    @property
    def met_late(self) -> int:
        return sum(r.met_late for r in self.rules)

    @property
    def met(self) -> int:
        return sum(r.met for r in self.rules)


@dataclass(frozen=True, slots=True)
class AcknowledgedRow:
    """An acknowledged or silenced item, with its recorded reason."""

    provider_id: str
    kind: str  # ack | silence
    subject: str
    rule: str
    reason: str
    until_on: str | None
    by: str = ""
    revoked: str | None = None  # "2026-03-10 by lv: reason" when ended early


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    on: str
    breached: int


@dataclass(frozen=True, slots=True)
class ReportData:
    kind: ReportKind
    generated_on: str
    offices: tuple[OfficeSection, ...]
    acknowledged: tuple[AcknowledgedRow, ...]
    provisional: tuple[ProvisionalRow, ...]
    history: tuple[HistoryPoint, ...]
    providers: tuple[str, ...]
    language: Language = "en"

    @property
    def totals(self) -> dict[str, int]:
        """Breached (now) and met late apart, as the run summary counts them."""
        return {
            "met": sum(o.met for o in self.offices),
            "breached": sum(o.breached for o in self.offices),
            "met_late": sum(o.met_late for o in self.offices),
            "at_risk": sum(o.at_risk for o in self.offices),
        }


def build_report(
    kind: ReportKind,
    today: date,
    deadlines: Iterable[tuple[str, Deadline]],
    *,
    acknowledged: Sequence[AcknowledgedRow] = (),
    provisional: Sequence[ProvisionalRow] = (),
    history: Sequence[HistoryPoint] = (),
    language: Language = "en",
) -> ReportData:
    """Group ``(provider_id, deadline)`` pairs per office and rule (titles in ``language``)."""
    counts: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(
            lambda: {"met": 0, "breached": 0, "met_late": 0, "at_risk": 0, "other": 0}
        )
    )
    breaches: dict[tuple[str, str], list[DeadlineRow]] = defaultdict(list)
    providers: set[str] = set()
    for provider_id, deadline in deadlines:
        providers.add(provider_id)
        office = (provider_id, deadline.office_id or "(provider)")
        counts[office][deadline.rule][_bucket(deadline.status)] += 1
        if deadline.status is Status.BREACHED:
            breaches[office].append(deadline_row(provider_id, deadline))
    offices = tuple(
        OfficeSection(
            provider_id=office[0],
            office_id=office[1],
            rules=tuple(
                RuleCounts(rule=rule, title=rule_title(rule, language), **c)
                for rule, c in sorted(by_rule.items())
            ),
            breaches=tuple(
                sorted(breaches[office], key=lambda r: (r.due_on or "", r.subject), reverse=True)
            ),
        )
        for office, by_rule in sorted(counts.items())
    )
    return ReportData(
        kind=kind,
        generated_on=today.isoformat(),
        offices=offices,
        acknowledged=tuple(acknowledged),
        provisional=_unique(provisional),
        history=tuple(sorted(history, key=lambda p: p.on)),
        providers=tuple(sorted(providers)),
        language=language,
    )


def _bucket(status: Status) -> str:
    if status in MET:
        return "met"
    if status is Status.BREACHED:
        return "breached"
    if status is Status.MET_LATE:
        return "met_late"
    if status in AT_RISK:
        return "at_risk"
    return "other"


def _unique(rows: Sequence[ProvisionalRow]) -> tuple[ProvisionalRow, ...]:
    seen: dict[tuple[str, str], ProvisionalRow] = {}
    for row in rows:
        seen.setdefault((row.pack_id, row.name), row)
    return tuple(seen[key] for key in sorted(seen))


# -- chart and HTML ----------------------------------------------------------------------

CHART_WIDTH = 640
CHART_HEIGHT = 180
_PAD = 32


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


def chart_bars(history: Sequence[HistoryPoint]) -> tuple[Bar, ...]:
    """Bars for the breaches-over-time chart, scaled into the SVG's box."""
    if not history:
        return ()
    top = max(*(p.breached for p in history), 1)
    inner_w = CHART_WIDTH - 2 * _PAD
    inner_h = CHART_HEIGHT - 2 * _PAD
    slot = inner_w / len(history)
    width = min(max(slot * 0.7, 1.0), 36.0)  # one week of history is a bar, not a wall
    bars = []
    for index, point in enumerate(history):
        height = inner_h * point.breached / top
        bars.append(
            Bar(
                x=round(_PAD + index * slot + (slot - width) / 2, 1),
                y=round(_PAD + inner_h - height, 1),
                width=round(width, 1),
                height=round(height, 1),
                label=point.on,
                value=point.breached,
            )
        )
    return tuple(bars)


def render_html(data: ReportData) -> str:
    """The report as one self-contained HTML document."""
    env = Environment(
        loader=PackageLoader("pipeline", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template("report.html.j2")
    return template.render(
        data=data,
        bars=chart_bars(data.history),
        chart_width=CHART_WIDTH,
        chart_height=CHART_HEIGHT,
        pad=_PAD,
        peak=max((p.breached for p in data.history), default=0),
    )
