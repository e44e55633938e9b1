"""Operator deadline tables stay bounded whatever the number of providers."""

from __future__ import annotations

from flows.artifacts import ARTIFACT_ROWS, _most_pressing
from pipeline.rows import DeadlineRow


def row(subject: str, days_left: int | None) -> DeadlineRow:
    return DeadlineRow(
        provider_id="p",
        subject_kind="case",
        subject=subject,
        rule="START-2W",
        status="breached",
        due_on=None,
        days_left=days_left,
        office_id="o",
        reason="",
    )


def test_tables_keep_the_most_overdue_rows_up_to_the_cap():
    """Past the cap the most overdue rows are kept, rows without a date come last."""
    rows = [row("undated", None), *(row(f"TK-{n:05d}", -n) for n in range(ARTIFACT_ROWS + 50))]
    kept = _most_pressing(rows)
    assert len(kept) == ARTIFACT_ROWS
    assert kept[0].days_left == -(ARTIFACT_ROWS + 49)
    assert all(r.subject != "undated" for r in kept)
    assert [r.subject for r in _most_pressing([row("b", None), row("a", 3)])] == ["a", "b"]
