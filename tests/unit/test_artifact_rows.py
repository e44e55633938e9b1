"""Operator deadline tables stay bounded per provider whatever the number of providers."""

from __future__ import annotations

from flows.artifacts import ARTIFACT_ROWS, ARTIFACT_TOTAL_ROWS, _capped, _cell
from pipeline.rows import DeadlineRow


def row(provider_id: str, subject: str) -> DeadlineRow:
    return DeadlineRow(
        provider_id=provider_id,
        subject_kind="case",
        subject=subject,
        rule="START-2W",
        status="breached",
        due_on=None,
        days_left=-1,
        office_id="o",
        reason="",
    )


def test_tables_keep_at_most_the_cap_per_provider_in_their_order():
    """A busy provider is cut at the cap; a quiet one keeps its rows; the order stays."""
    rows = [row("busy", f"TK-{n:05d}") for n in range(ARTIFACT_ROWS + 50)] + [row("quiet", "Q-1")]
    kept = _capped(rows)
    assert [r.subject for r in kept if r.provider_id == "busy"] == [
        f"TK-{n:05d}" for n in range(ARTIFACT_ROWS)
    ]
    assert [r.subject for r in kept if r.provider_id == "quiet"] == ["Q-1"]


def test_tables_stay_bounded_in_all():
    """Hundreds of providers at their cap still make one bounded table."""
    rows = [row(f"p{p:03d}", f"TK-{n}") for p in range(300) for n in range(ARTIFACT_ROWS)]
    assert len(_capped(rows)) == ARTIFACT_TOTAL_ROWS


def test_cells_are_bounded():
    """A long provider-supplied value is cut, a short one kept, None shown as a dash."""
    assert _cell("x" * 500).endswith("…")
    assert len(_cell("x" * 500)) == 120
    assert _cell("TK-1") == "TK-1"
    assert _cell(None) == "-"
