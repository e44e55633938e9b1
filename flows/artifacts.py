"""Operator artifacts: what each run publishes to the Prefect UI.

Tables hold case references, rule ids, dates, counts and the engine's reasons only:
no personal data, no tokens, no Apprise URLs. Keys are stable so the UI shows each
artifact's history across runs. Every provider-supplied string (references, office ids,
reasons, a provider's error text) is made inert and bounded first
(:mod:`notifications.safe_text`): Markdown-escaped in Markdown, one line everywhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.outcome import CheckOutcome
from notifications.safe_text import markdown, plain
from pipeline.reporting import ReportSummary
from pipeline.rows import DeadlineRow, ProvisionalRow
from pipeline.summaries import EvaluationSummary, NotifySummary, Overview

#: Rows per provider in each deadline table (the most recent breaches, the nearest due
#: dates); the true totals are in the description. Bounded so a national run publishes
#: small artifacts (Prefect drops events that are too big).
ARTIFACT_ROWS = 25
#: Rows per deadline table in all (providers with the most recent rows first).
ARTIFACT_TOTAL_ROWS = 1000
#: The longest provider-supplied text shown in a cell.
CELL_CHARS = 120
#: Characters of one problem (a provider's error text among them) in the summary's text.
SUMMARY_PROBLEM_CHARS = 300


def _cell(value: object) -> str:
    """A provider-supplied value as table text: one line, inert, bounded (the one place)."""
    return "-" if value is None else plain(value, CELL_CHARS)


def publish_check(outcome: CheckOutcome, *, key_prefix: str = "compliance") -> None:
    """The summary, statuses, breached, met-late, due-soon, rejected and provisional tables."""
    create_table_artifact(
        key=f"{key_prefix}-summary",
        table=outcome.summary_rows(),
        description=summary_markdown(outcome),
    )
    create_table_artifact(
        key=f"{key_prefix}-statuses",
        table=outcome.status_rows(),
        description=f"Deadlines per provider and status on {outcome.today_on}.",
    )
    evaluations = [p.evaluation for p in outcome.providers if p.evaluation is not None]
    publish_deadlines(evaluations, key_prefix=key_prefix, overview=outcome.overview)
    rejected = [
        {
            "provider_id": p.provider_id,
            "kind": r.kind,
            "ref": _cell(r.ref),
            "errors": _cell("; ".join(r.errors)),
        }
        for p in outcome.providers
        if p.sync is not None
        for r in p.sync.rejected_rows
    ]
    if rejected:
        create_table_artifact(
            key=f"{key_prefix}-rejected",
            table=rejected,
            description="Latest rejected payloads of these providers (reference and errors only).",
        )
    publish_provisional([row for e in evaluations for row in e.provisional], key_prefix=key_prefix)


def publish_deadlines(
    evaluations: Sequence[EvaluationSummary], *, key_prefix: str, overview: Overview | None = None
) -> None:
    """Breached (now), met-late and due-soon tables: capped per provider, totals in the text.

    The rows come from the run's overview (one query each across providers) when there
    is one, else from the evaluations' own rows (ad-hoc checks of one provider).
    """
    breached = overview.breached if overview else [r for e in evaluations for r in e.breached]
    due_soon = overview.due_soon if overview else [r for e in evaluations for r in e.due_soon]
    met_late = overview.met_late if overview else ()
    totals = {
        "breached": {e.provider_id: e.breached_total for e in evaluations},
        "due_soon": {e.provider_id: e.due_soon_total for e in evaluations},
        "met_late": {e.provider_id: e.met_late_total for e in evaluations},
    }
    on = evaluations[0].evaluated_on if evaluations else ""
    tables = (
        ("breached", breached, "Breached now, the most recent first", totals["breached"]),
        ("due-soon", due_soon, "Due soon or at risk, the nearest first", totals["due_soon"]),
        ("met-late", met_late, "Met after the due date, the most recent first", totals["met_late"]),
    )
    for name, rows, title, by_provider in tables:
        if name == "met-late" and overview is None:
            continue  # an ad-hoc check lists its deadlines in its own artifact
        shown = _capped(rows)
        create_table_artifact(
            key=f"{key_prefix}-{name}",
            table=_deadline_table(shown),
            description=_deadlines_description(title, on, by_provider, len(shown)),
        )


def _capped(rows: Sequence[DeadlineRow]) -> list[DeadlineRow]:
    """At most ARTIFACT_ROWS rows per provider and ARTIFACT_TOTAL_ROWS in all, in order."""
    seen: Counter[str] = Counter()
    kept: list[DeadlineRow] = []
    for row in rows:
        seen[row.provider_id] += 1
        if seen[row.provider_id] <= ARTIFACT_ROWS:
            kept.append(row)
    return kept[:ARTIFACT_TOTAL_ROWS]


def _deadlines_description(title: str, on: str, by_provider: dict[str, int], shown: int) -> str:
    total = sum(by_provider.values())
    counts = ", ".join(f"{pid} {n}" for pid, n in sorted(by_provider.items()) if n)
    return (
        f"{title} ({on}): {total} in all{f' ({counts})' if counts else ''}; "
        f"showing {shown}, at most {ARTIFACT_ROWS} per provider."
    )


def publish_provisional(rows: Iterable[ProvisionalRow], *, key_prefix: str) -> None:
    """Provisional (unverified) and overridden rule parameters used by this run."""
    unique = {(r.pack_id, r.name): r for r in rows}
    table = [
        {
            "pack": r.pack_id,
            "parameter": r.name,
            "value": "disabled" if r.value is None else r.value,
            "provisional": r.provisional,
            "overridden": r.overridden,
            "description": r.description,
        }
        for _, r in sorted(unique.items())
    ]
    create_table_artifact(
        key=f"{key_prefix}-provisional",
        table=table or [{"pack": "-", "parameter": "none in use"}],
        description="Rule parameters that are provisional or overridden for a provider.",
    )


def explanations_markdown(rows: Sequence[DeadlineRow], *, title: str) -> str:
    """Every deadline and its full explanation as Markdown, provider text escaped."""
    lines = [f"# {markdown(title)}", ""]
    if not rows:
        lines.append("No deadlines for this selection.")
    for row in rows:
        due = row.due_on or "no due date"
        lines.append(
            f"## {markdown(row.subject, 64)} · {markdown(row.rule, 64)} · {row.status} · due {due}"
        )
        lines.extend(
            f"- {markdown(line, 300)}" for line in (row.explanation or (row.reason,)) if line
        )
        lines.append("")
    return "\n".join(lines)


def publish_explanations(rows: Sequence[DeadlineRow], *, title: str, key: str) -> None:
    """A markdown artifact with every deadline and its full explanation (ad-hoc checks)."""
    create_markdown_artifact(
        key=key, markdown=explanations_markdown(rows, title=title), description=markdown(title)
    )


def publish_notify(summary: NotifySummary, *, key: str) -> None:
    """One row: the messages and alert items a notification run sent, failed, held."""
    row = {
        "messages sent": summary.messages,
        "messages failed": summary.messages_failed,
        "items sent": summary.sent,
        "items failed": summary.failed,
        "items suppressed": summary.suppressed,
        "items pending": summary.pending,
        "items sent by language": ", ".join(
            f"{k}: {v}" for k, v in sorted(summary.by_language.items())
        ),
        "dry run": summary.dry_run,
    }
    create_table_artifact(
        key=key,
        table=[row],
        description="Alert delivery for this run: a message (one email or chat post) carries "
        "one recipient's alert items.",
    )


def publish_report(summary: ReportSummary, *, key: str) -> None:
    """Where the report file is and its headline numbers."""
    totals = ", ".join(f"{k} {v}" for k, v in summary.totals.items())
    create_markdown_artifact(
        key=key,
        markdown=(
            f"# {summary.kind.capitalize()} compliance report {summary.generated_on}\n\n"
            f"- file: `{summary.path}`\n- offices: {summary.offices}\n- {totals}\n"
            f"- acknowledged or silenced: {summary.acknowledged}\n"
            f"- provisional parameters in use: {summary.provisional}\n"
        ),
        description=f"{summary.kind} report",
    )


def _deadline_table(rows: Sequence[DeadlineRow]) -> list[dict[str, object]]:
    table: list[dict[str, object]] = [
        {
            "provider": row.provider_id,
            "office": _cell(row.office_id),
            "subject": _cell(row.subject),
            "rule": row.rule,
            "due": row.due_on or "-",
            "days": "-" if row.days_left is None else row.days_left,
            "reason": _cell(row.reason),
        }
        for row in rows
    ]
    return table or [{"provider": "-", "subject": "none"}]


def summary_markdown(outcome: CheckOutcome) -> str:
    """The summary table's description: Vahti's words, provider text escaped and bounded."""
    state = (
        "all providers completed"
        if outcome.ok
        else "; ".join(markdown(line, SUMMARY_PROBLEM_CHARS) for line in outcome.problems())
    )
    n = outcome.notify
    sent = (
        f" Alerts: {n.sent} item(s) sent in {n.messages} message(s), {n.failed} item(s) "
        f"failed in {n.messages_failed} message(s); run-wide items (reminder, operations) "
        f"counted under '*'."
        if n
        else ""
    )
    return f"Compliance check for {outcome.today_on}: {state}.{sent}"
