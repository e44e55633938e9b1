"""``vahti evaluate`` through typer's CliRunner."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from tests.unit.rules.builders import raw_case
from vahti.cli import app

RUNNER = CliRunner()


def write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_json_output_contract(tmp_path: Path) -> None:
    """--format json prints the documented object for cases, audits and staff."""
    cases = write(
        tmp_path,
        "cases.json",
        [raw_case(), raw_case(case_ref="TK-9", first_meeting_on="2025-02-01")],
    )
    audits = write(
        tmp_path,
        "audits.json",
        {
            "items": [
                {
                    "audit_id": "A1",
                    "visit_on": "2025-03-01",
                    "updated_at": "2025-03-01T10:00:00+02:00",
                }
            ]
        },
    )
    staff = write(tmp_path, "staff.json", {"items": [{"id": "c-1", "office_id": "HEL-1"}]})
    result = RUNNER.invoke(
        app,
        [
            "evaluate",
            "--cases",
            cases,
            "--audits",
            audits,
            "--staff",
            staff,
            "--today",
            "2025-03-05",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["today"] == "2025-03-05"
    assert data["pack"] == {
        "id": "kela-tk-tv-2025",
        "provisional": [
            "FEEDBACK-DUE.feedback_due_days",
            "VOCATIONAL-PLAN.days_after_workplace_start",
            "EMPLOYER-BREAK-LONG.employer_break_max_days",
        ],
    }
    start = next(x for x in data["deadlines"] if x["rule"] == "START-2W")
    assert {
        k: start[k]
        for k in ("subject_kind", "subject", "status", "due_on", "event_on", "days_left", "details")
    } == {
        "subject_kind": "case",
        "subject": "TK-1",
        "status": "open",
        "due_on": "2025-03-17",
        "event_on": None,
        "days_left": 12,
        "details": [],
    }
    assert start["explanation"][0] == "trigger: decision_received_on 2025-03-03"
    kinds = {x["subject_kind"] for x in data["deadlines"]}
    assert kinds == {"case", "audit", "coach", "provider"}
    assert data["rejected"] == [
        {
            "kind": "case",
            "ref": "TK-9",
            "errors": ["first_meeting_on 2025-02-01 is before decision_received_on 2025-03-03"],
        }
    ]


def test_table_output_with_explain(tmp_path: Path) -> None:
    """The table groups by subject, shows statuses and, with --explain, explanations."""
    cases = write(tmp_path, "cases.json", [raw_case(), {"case_ref": "TK-X"}])
    result = RUNNER.invoke(
        app,
        [
            "evaluate",
            "--cases",
            cases,
            "--today",
            "2025-03-05",
            "--explain",
            "--pack",
            "kela-tk-tv-2025",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "START-2W" in result.output
    assert "trigger: decision_received_on" in result.output
    assert "rejected items" in result.output
    plain = RUNNER.invoke(app, ["evaluate", "--cases", cases, "--today", "2025-03-05"])
    assert "trigger:" not in plain.output


def test_no_files_is_an_evaluation_with_only_the_team_rule_unconfigured() -> None:
    """Without files only COACH-TEAM-MIN-3 answers, unconfigured (decision 8)."""
    result = RUNNER.invoke(app, ["evaluate", "--today", "2025-03-05", "--format", "json"])
    assert result.exit_code == 0
    deadlines = json.loads(result.output)["deadlines"]
    assert [(d["rule"], d["status"]) for d in deadlines] == [("COACH-TEAM-MIN-3", "unconfigured")]


def test_unusable_input_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    """Bad date, unreadable file, bad JSON, wrong shape and unknown pack: exit 2, one line."""
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{nope", encoding="utf-8")
    shape = write(tmp_path, "shape.json", {"cases": []})
    cases = [
        (["--today", "2025-13-01"], "--today '2025-13-01' is not a date"),
        (["--today", "2025-03-05", "--cases", str(tmp_path / "missing.json")], "cannot read"),
        (["--today", "2025-03-05", "--cases", str(bad_json)], "not valid JSON"),
        (["--today", "2025-03-05", "--staff", shape], "expected a JSON array"),
        (["--today", "2025-03-05", "--pack", "nope"], "unknown rule pack 'nope'"),
    ]
    for args, message in cases:
        result = RUNNER.invoke(app, ["evaluate", *args])
        assert result.exit_code == 2, args
        assert message in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_without_staff_the_team_rule_is_unconfigured_and_today_defaults(tmp_path: Path) -> None:
    """No --staff: COACH-TEAM-MIN-3 unconfigured; no --today: today in Europe/Helsinki."""
    cases = write(tmp_path, "cases.json", [raw_case()])
    result = RUNNER.invoke(app, ["evaluate", "--cases", cases, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["today"] == datetime.now(ZoneInfo("Europe/Helsinki")).date().isoformat()
    (team,) = [d for d in data["deadlines"] if d["rule"] == "COACH-TEAM-MIN-3"]
    assert team["status"] == "unconfigured"
    empty = write(tmp_path, "staff.json", [])
    result = RUNNER.invoke(
        app, ["evaluate", "--staff", empty, "--today", "2025-03-05", "--format", "json"]
    )
    (team,) = [d for d in json.loads(result.output)["deadlines"] if d["rule"] == "COACH-TEAM-MIN-3"]
    assert team["status"] == "breached"


def test_ack_and_silence_refuse_what_the_ui_refuses(tmp_path: Path) -> None:
    """The CLI's ack and silence use the UI's checks: no empty reason, no past until."""
    config = tmp_path / "v.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "v.db"}"\n', encoding="utf-8")
    empty = RUNNER.invoke(
        app, ["ack", "TK-1", "START-2W", "--reason", " ", "--config", str(config)]
    )
    assert empty.exit_code == 2
    assert "reason must not be empty" in empty.output
    past = RUNNER.invoke(
        app,
        ["silence", "TK-1", "START-2W", "--reason", "x", "--until", "2020-01-01",
         "--config", str(config)],
    )  # fmt: skip
    assert past.exit_code == 2
    assert "is in the past" in past.output
    done = RUNNER.invoke(
        app, ["ack", "TK-1", "START-2W", "--reason", " moved ", "--config", str(config)]
    )
    assert done.exit_code == 0, done.output
    assert "(moved)" in done.output
