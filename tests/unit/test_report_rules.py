"""The compliance report shows the December 2026 rules like every other rule."""

from __future__ import annotations

from pipeline.report import build_report, render_html
from rules import Status
from tests.unit.rules.builders import case, d, day, meeting, run


def test_new_rules_have_their_rows_in_the_report() -> None:
    """MEETING-PLACE, EMPLOYER-BREAK-RESUME and -LONG are counted per office and rendered."""
    item = case(
        decision_received_on="2026-04-01",
        first_contact_on="2026-04-02",
        first_meeting_on="2026-04-08",
        workplace_phase_started_on="2026-05-04",
        meetings=[meeting("2026-04-16", place="network_partner")],
        pauses=[
            {
                "kind": "sequencing",
                "reason": "employer_break",
                "start_on": "2026-06-01",
                "end_on": "2026-06-19",
            }
        ],
        days=[day("2026-05-04")],
    )
    deadlines = run("2026-06-25", [item], staff=None)
    report = build_report("daily", d("2026-06-25"), [("p1", x) for x in deadlines])
    (office,) = [o for o in report.offices if o.office_id == "HEL-1"]
    counts = {r.rule: r for r in office.rules}
    assert counts["MEETING-PLACE"].breached == 1
    assert counts["EMPLOYER-BREAK-RESUME"].breached == 1
    assert counts["EMPLOYER-BREAK-LONG"].other == 1
    assert {r.rule for r in office.breaches} >= {"MEETING-PLACE", "EMPLOYER-BREAK-RESUME"}
    html = render_html(report)
    for rule_id in ("MEETING-PLACE", "EMPLOYER-BREAK-RESUME", "EMPLOYER-BREAK-LONG"):
        assert rule_id in html
    assert any(x.status is Status.ADVISORY for x in deadlines if x.rule == "EMPLOYER-BREAK-LONG")
