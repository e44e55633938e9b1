"""`vahti demo` end to end, in its own process (its own ephemeral Prefect API)."""

from __future__ import annotations

import json
import mailbox
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _demo(workdir: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("vahti")),
            *("demo", "--cases", "60", "--seed", "3"),
            *("--workdir", str(workdir), "--format", "json"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    data: dict[str, object] = json.loads(completed.stdout)
    return data


def test_demo_delivers_once_and_reports(tmp_path: Path) -> None:
    """First run mails alerts and writes the report; a second run sends nothing new."""
    workdir = tmp_path / "demo"
    first = _demo(workdir)
    assert set(first) == {"cases", "rejected", "deadlines", "alerts", "mailbox", "report"}
    assert first["cases"] == 60
    assert isinstance(first["deadlines"], dict)
    assert sum(first["deadlines"].values()) > 0
    alerts = first["alerts"]
    assert isinstance(alerts, dict)
    assert alerts["items_failed"] == 0
    delivered = len(mailbox.Maildir(str(first["mailbox"]), create=False))
    assert delivered > 0
    assert alerts["messages_sent"] == delivered  # messages are what the mailbox holds
    assert alerts["items_sent"] >= delivered
    report = Path(str(first["report"]))
    assert "Toimipisteittäin ja säännöittäin" in report.read_text(encoding="utf-8")  # fi
    assert (workdir / ".prefect" / "prefect.db").exists()  # Prefect's own database

    second = _demo(workdir)
    assert second["alerts"] == {"items_sent": 0, "items_failed": 0, "messages_sent": 0}
    assert len(mailbox.Maildir(str(first["mailbox"]), create=False)) == delivered
