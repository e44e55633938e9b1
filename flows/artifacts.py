"""Operator artifacts: what each run publishes to the Prefect UI.

Tables hold case references, rule ids, dates, counts and the engine's reasons only:
no personal data, no tokens, no Apprise URLs. Keys are stable so the UI shows each
artifact's history across runs. Every provider-supplied string (references, office ids,
reasons, a provider's error text) is made inert and bounded first
(:mod:`notifications.safe_text`): Markdown-escaped in Markdown, one line everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.outcome import CheckOutcome
from notifications.safe_text import markdown, plain
from pipeline.reporting import ReportSummary
from pipeline.rows import DeadlineRow, ProvisionalRow
from pipeline.summaries import EvaluationSummary, NotifySummary, Overview

_DEADLINE_COLUMNS = ("provider_id", "office_id", "subject", "rule", "status", "due_on", "days_left")
#: Rows per deadline table in the UI (most overdue / nearest first); totals in the text.
#: Bounded so a national run publishes small artifacts (Prefect drops events that are too big).
ARTIFACT_ROWS = 500
#: Characters of one problem (a provider's error text among them) in the summary's text.
SUMMARY_PROBLEM_CHARS = 300


def _most_pressing(rows: Iterable[DeadlineRow]) -> list[DeadlineRow]:
    """The ARTIFACT_ROWS rows with the fewest days left (rows without a date last)."""
    far = 1 << 30
    ordered = sorted(rows, key=lambda r: (far if r.days_left is None else r.days_left, r.subject))
    return ordered[:ARTIFACT_ROWS]


def publish_check(outcome: CheckOutcome, *, key_prefix: str = "compliance") -> None:
    """The summary, breached, due-soon, rejected and provisional tables of one check."""
    create_table_artifact(
        key=f"{key_prefix}-summary",
        table=outcome.summary_rows(),
        description=summary_markdown(outcome),
    )
    evaluations = [p.evaluation for p in outcome.providers if p.evaluation is not None]
    publish_deadlines(evaluations, key_prefix=key_prefix, overview=outcome.overview)
    rejected = [
        {
            "provider_id": p.provider_id,
            "kind": r.kind,
            "ref": plain(r.ref or "-", 64),
            "errors": plain("; ".join(r.errors), 500),
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
    """Breached and due-soon deadline tables (capped; totals in the text).

    The rows come from the run's overview (one query across providers) when there is
    one, else from the evaluations' own rows (ad-hoc checks of one provider).
    """
    breached = _most_pressing(
        overview.breached if overview else (row for e in evaluations for row in e.breached)
    )
    due_soon = _most_pressing(
        overview.due_soon if overview else (row for e in evaluations for row in e.due_soon)
    )
    breached_total = sum(e.breached_total for e in evaluations)
    due_soon_total = sum(e.due_soon_total for e in evaluations)
    create_table_artifact(
        key=f"{key_prefix}-breached",
        table=_deadline_table(breached),
        description=f"Breached deadlines: {breached_total} (showing {len(breached)}).",
    )
    create_table_artifact(
        key=f"{key_prefix}-due-soon",
        table=_deadline_table(due_soon),
        description=f"Deadlines due soon or at risk: {due_soon_total} (showing {len(due_soon)}).",
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
    """One row: what a notification run sent, failed, suppressed, held."""
    row = asdict(summary)
    row["by_language"] = ", ".join(f"{k}: {v}" for k, v in sorted(summary.by_language.items()))
    create_table_artifact(key=key, table=[row], description="Alert delivery for this run.")


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
    table: list[dict[str, object]] = []
    for row in rows:
        item: dict[str, object] = {col: getattr(row, col) for col in _DEADLINE_COLUMNS}
        item["provider_id"] = plain(row.provider_id, 64)
        item["subject"] = plain(row.subject, 64)
        item["office_id"] = plain(row.office_id or "-", 64)
        item["due_on"] = row.due_on or "-"
        item["reason"] = plain(row.reason)
        table.append(item)
    return table or [{"subject": "-", "rule": "none"}]


def summary_markdown(outcome: CheckOutcome) -> str:
    """The summary table's description: Vahti's words, provider text escaped and bounded."""
    if outcome.ok:
        return f"Compliance check for {outcome.today_on}: all providers completed."
    problems = "; ".join(markdown(line, SUMMARY_PROBLEM_CHARS) for line in outcome.problems())
    return f"Compliance check for {outcome.today_on}: {problems}."
