"""What people see, in a real browser: the run's summary and breached artifacts (as tables,
the way the Prefect UI shows them) and the weekly report, opened in headless Chromium at
1280 px; every key column must be on screen.

Set VAHTI_SCREENSHOT_DIR to keep a screenshot of each page (docs/ holds the last ones).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from flows.compliance import compliance_check
from flows.reports import weekly_report
from pipeline.report import WORDS
from tests.flows.conftest import NOW, TODAY, Site

pytestmark = pytest.mark.slow

WIDTH = 1280
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
#: Reports which header cells lie wholly inside the window (the page's own script).
MEASURE = """<script>
window.addEventListener("load", () => {
  const seen = [...document.querySelectorAll("th")].map((th) => {
    const box = th.getBoundingClientRect();
    return [th.textContent.trim(), box.left >= 0 && box.right <= window.innerWidth + 0.5];
  });
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify({ width: window.innerWidth, seen });
  document.body.appendChild(out);
});
</script>"""


def _chromium(*args: str, profile: Path) -> str:
    assert BROWSER is not None
    command = [
        BROWSER, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}", f"--window-size={WIDTH},900",
        "--hide-scrollbars", *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _visible_headers(page: Path, tmp_path: Path) -> dict[str, bool]:
    """Each header cell's text -> whether it is wholly inside 1280 px."""
    measured = tmp_path / f"measured-{page.name}"
    measured.write_text(page.read_text(encoding="utf-8") + MEASURE, encoding="utf-8")
    dom = _chromium(
        "--virtual-time-budget=3000", "--dump-dom", measured.as_uri(), profile=tmp_path / "p1"
    )
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.DOTALL)
    assert found, dom[-1000:]
    data = json.loads(html.unescape(found.group(1)))
    assert data["width"] == WIDTH
    return {str(text): bool(inside) for text, inside in data["seen"]}


def _screenshot(page: Path, tmp_path: Path, name: str) -> None:
    target = tmp_path / f"{name}.png"
    _chromium(f"--screenshot={target}", page.as_uri(), profile=tmp_path / "p2")
    assert target.stat().st_size > 10_000  # a rendered page, not a blank one
    keep = os.environ.get("VAHTI_SCREENSHOT_DIR")
    if keep:
        shutil.copy(target, Path(keep) / f"{name}.png")


_TABLE_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d2733; }}
p {{ color: #5b6b7c; max-width: 1100px; }}
table {{ border-collapse: collapse; }}
th, td {{ text-align: left; padding: 6px 12px; border-bottom: 1px solid #dde3ea;
  white-space: nowrap; }}
th {{ background: #eef2f6; }}
</style></head><body><h2>{title}</h2><p>{description}</p><table><thead><tr>{head}</tr></thead>
<tbody>{body}</tbody></table></body></html>"""


def _table_page(artifact: object, path: Path) -> Path:
    """A table artifact as the Prefect UI shows one: its description over its table."""
    rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data  # type: ignore[attr-defined]
    columns = list(rows[0])
    path.write_text(
        _TABLE_PAGE.format(
            title=html.escape(str(artifact.key)),  # type: ignore[attr-defined]
            description=html.escape(str(artifact.description or "")),  # type: ignore[attr-defined]
            head="".join(f"<th>{html.escape(c)}</th>" for c in columns),
            body="".join(
                "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in columns)
                for r in rows[:40]
            ),
        ),
        encoding="utf-8",
    )
    return path


def test_artifacts_and_report_read_at_1280_px(
    make_site: Callable[..., Site], tmp_path: Path
) -> None:
    """Summary, breached and the weekly report: every key column visible at 1280 px."""
    assert BROWSER is not None, "chromium is not installed (.ci/run installs it)"
    site = make_site({"alpha": "FLOW_TEST_TOKEN", "beta": "FLOW_TEST_BAD_TOKEN"})
    state = compliance_check(
        config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
    )
    assert state.is_failed()  # beta answers 401: its error shows in the summary
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    artifacts = {a.key: a for a in found if a.key}
    summary = _table_page(artifacts["compliance-summary"], tmp_path / "summary.html")
    seen = _visible_headers(summary, tmp_path)
    for column in ("provider", "state", "fetched", "rejected", "breached", "due soon",
                   "items sent/failed", "error"):  # fmt: skip
        assert seen.get(column) is True, (column, seen)
    _screenshot(summary, tmp_path, "artifact-summary")

    breached = _table_page(artifacts["compliance-breached"], tmp_path / "breached.html")
    seen = _visible_headers(breached, tmp_path)
    for column in ("provider", "office", "subject", "rule", "due", "days"):
        assert seen.get(column) is True, (column, seen)
    _screenshot(breached, tmp_path, "artifact-breached")

    report = Path(str(weekly_report(config=str(site.config), today=TODAY.isoformat())["report"]))
    seen = _visible_headers(report, tmp_path)
    words = WORDS["fi"]  # the site's quality staff read Finnish
    keys = ("rule", "met", "breached_now", "met_late", "at_risk", "subject", "due", "reason")
    for column in (words[key] for key in (*keys, "office", "coach")):
        assert seen.get(column) is True, (column, seen)
    _screenshot(report, tmp_path, "weekly-report")
