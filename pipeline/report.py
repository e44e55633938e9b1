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
    by_office: tuple[tuple[str, str, int], ...] = ()  # (provider, office or "-", breached)


@dataclass(frozen=True, slots=True)
class PeopleCounts:
    """One office's or one coach's deadlines that call for someone: breached now, met late,
    at risk (due soon or forecast to fail)."""

    provider_id: str
    name: str  # the office id, or the coach id
    breached: int = 0
    met_late: int = 0
    at_risk: int = 0


@dataclass(frozen=True, slots=True)
class OfficeTrend:
    """One office's breached deadlines at each point of the history (oldest first)."""

    provider_id: str
    office_id: str
    counts: tuple[int, ...]


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
    coaches: tuple[PeopleCounts, ...] = ()  # the coaches with the most to act on first
    coaches_total: int = 0  # coaches with anything to act on (the table is capped)

    @property
    def office_counts(self) -> tuple[PeopleCounts, ...]:
        """Every office, the most breached first."""
        rows = (
            PeopleCounts(o.provider_id, o.office_id, o.breached, o.met_late, o.at_risk)
            for o in self.offices
        )
        return tuple(sorted(rows, key=_most_first))

    @property
    def office_trend(self) -> tuple[OfficeTrend, ...]:
        """Each office's breaches at every history point, the most breached now first."""
        offices = sorted({(p, o) for point in self.history for p, o, _ in point.by_office})
        trend = [
            OfficeTrend(
                provider_id,
                office_id,
                tuple(
                    next(
                        (n for p, o, n in point.by_office if (p, o) == (provider_id, office_id)), 0
                    )
                    for point in self.history
                ),
            )
            for provider_id, office_id in offices
        ]
        return tuple(sorted(trend, key=lambda t: (-(t.counts[-1] if t.counts else 0), t.office_id)))

    @property
    def words(self) -> dict[str, str]:
        """The report's own words in its reader's language."""
        return WORDS[self.language]

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
    """Group ``(provider_id, deadline)`` pairs per office and rule (titles in ``language``),
    and count what each coach has to act on."""
    counts: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(
            lambda: {"met": 0, "breached": 0, "met_late": 0, "at_risk": 0, "other": 0}
        )
    )
    breaches: dict[tuple[str, str], list[DeadlineRow]] = defaultdict(list)
    coaches: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"breached": 0, "met_late": 0, "at_risk": 0}
    )
    providers: set[str] = set()
    for provider_id, deadline in deadlines:
        providers.add(provider_id)
        office = (provider_id, deadline.office_id or "(provider)")
        bucket = _bucket(deadline.status)
        counts[office][deadline.rule][bucket] += 1
        if deadline.coach_id and bucket in ("breached", "met_late", "at_risk"):
            coaches[provider_id, deadline.coach_id][bucket] += 1
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
    people = sorted(
        (PeopleCounts(pid, coach, **c) for (pid, coach), c in coaches.items()), key=_most_first
    )
    return ReportData(
        kind=kind,
        generated_on=today.isoformat(),
        offices=offices,
        coaches=tuple(people[:REPORT_COACHES]),
        coaches_total=len(people),
        acknowledged=tuple(acknowledged),
        provisional=_unique(provisional),
        history=tuple(sorted(history, key=lambda p: p.on)),
        providers=tuple(sorted(providers)),
        language=language,
    )


#: Coaches listed in the report (the most to act on first); the count covers them all.
REPORT_COACHES = 40


def _most_first(row: PeopleCounts) -> tuple[int, int, int, str, str]:
    return (-row.breached, -row.met_late, -row.at_risk, row.provider_id, row.name)


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


#: The report's own words (headings, cards, column names), per language; rule titles come
#: from notifications.rule_titles.
WORDS: dict[Language, dict[str, str]] = {
    "fi": {
        "title_weekly": "Vahti: viikkoraportti",
        "title_daily": "Vahti: päiväraportti",
        "providers": "palveluntuottajat",
        "offices_n": "toimipistettä",
        "breached_now": "ylittynyt nyt",
        "met_late": "täyttynyt myöhässä",
        "at_risk": "vaarassa (pian erääntyvä)",
        "met": "täyttynyt",
        "acknowledged_n": "kuitattu tai vaimennettu",
        "provisional_n": "alustavaa parametria",
        "history": "Ylitykset viikoittain",
        "history_note": (
            "Ylittyneet (ei vielä täyttyneet) määräajat kunkin viikon lopussa "
            "määräaikahistoriasta; myöhässä täyttyneitä ei lasketa."
        ),
        "no_history": "Ei vielä historiaa: kaavio täyttyy tarkistusten myötä.",
        "by_office": "Toimipisteittäin",
        "trend": "Ylitykset viikoittain toimipisteittäin",
        "by_coach": "Valmentajittain",
        "coaches_note": "Valmentajat, joilla on eniten hoidettavaa ensin",
        "per_office_rule": "Toimipisteittäin ja säännöittäin",
        "office": "Toimipiste",
        "coach": "Valmentaja",
        "provider": "Palveluntuottaja",
        "rule": "Sääntö",
        "other": "Muu",
        "subject": "Kohde",
        "due": "Määräpäivä",
        "reason": "Peruste",
        "acknowledged": "Kuitatut ja vaimennetut",
        "nothing_acknowledged": "Ei kuitattuja eikä vaimennettuja.",
        "provisional": "Käytössä olevat alustavat parametrit",
        "none": "Ei yhtään.",
        "no_deadlines": "Määräaikoja ei ole vielä arvioitu.",
        "footer": (
            "Vahti. Vain tapausviitteet, säännöt, päivämäärät ja perusteet; ei henkilötietoja."
        ),
    },
    "sv": {
        "title_weekly": "Vahti: veckorapport",
        "title_daily": "Vahti: dagsrapport",
        "providers": "serviceproducenter",
        "offices_n": "verksamhetsställen",
        "breached_now": "överskridna nu",
        "met_late": "uppfyllda för sent",
        "at_risk": "i fara (förfaller snart)",
        "met": "uppfyllda",
        "acknowledged_n": "kvitterade eller tystade",
        "provisional_n": "preliminära parametrar",
        "history": "Överskridanden per vecka",
        "history_note": (
            "Överskridna (ännu inte uppfyllda) tidsfrister i slutet av varje vecka, ur "
            "historiken; de som uppfyllts för sent räknas inte."
        ),
        "no_history": "Ingen historik än: diagrammet fylls på när kontrollerna körs.",
        "by_office": "Per verksamhetsställe",
        "trend": "Överskridanden per vecka och verksamhetsställe",
        "by_coach": "Per arbetstränare",
        "coaches_note": "Arbetstränarna med mest att åtgärda först",
        "per_office_rule": "Per verksamhetsställe och regel",
        "office": "Verksamhetsställe",
        "coach": "Arbetstränare",
        "provider": "Serviceproducent",
        "rule": "Regel",
        "other": "Övrigt",
        "subject": "Ärende",
        "due": "Förfallodag",
        "reason": "Orsak",
        "acknowledged": "Kvitterade och tystade",
        "nothing_acknowledged": "Inget kvitterat eller tystat.",
        "provisional": "Preliminära parametrar i bruk",
        "none": "Inga.",
        "no_deadlines": "Inga tidsfrister utvärderade än.",
        "footer": (
            "Vahti. Endast ärendereferenser, regler, datum och orsaker; inga personuppgifter."
        ),
    },
    "en": {
        "title_weekly": "Vahti weekly compliance report",
        "title_daily": "Vahti daily compliance report",
        "providers": "providers",
        "offices_n": "office(s)",
        "breached_now": "breached now",
        "met_late": "met late",
        "at_risk": "at risk (due soon)",
        "met": "met",
        "acknowledged_n": "acknowledged or silenced",
        "provisional_n": "provisional parameters",
        "history": "Breaches over time",
        "history_note": (
            "Deadlines breached (not yet met) at the end of each week, from the deadline "
            "history; met-late deadlines are not counted."
        ),
        "no_history": "No history yet: the chart fills in as compliance checks run.",
        "by_office": "Per office",
        "trend": "Breaches per week, per office",
        "by_coach": "Per coach",
        "coaches_note": "The coaches with the most to act on first",
        "per_office_rule": "Per office and rule",
        "office": "Office",
        "coach": "Coach",
        "provider": "Provider",
        "rule": "Rule",
        "other": "Other",
        "subject": "Subject",
        "due": "Due",
        "reason": "Reason",
        "acknowledged": "Acknowledged and silenced",
        "nothing_acknowledged": "Nothing acknowledged or silenced.",
        "provisional": "Provisional parameters in use",
        "none": "None.",
        "no_deadlines": "No deadlines evaluated yet.",
        "footer": (
            "Generated by Vahti. Case references, rules, dates and reasons only; no personal data."
        ),
    },
}
