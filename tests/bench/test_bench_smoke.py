"""The benchmark entry point still runs at a tiny size (no timings are checked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.__main__ import main, parse_args
from bench.memory import TreeMemory
from bench.plot import table

pytestmark = pytest.mark.slow  # benchmark smoke tests stay outside the fast loop


def test_floor_and_engine_parts_run_and_write_results(tmp_path: Path) -> None:
    """`python -m bench` at 40 cases over 2 providers writes a result line and a plot."""
    results = tmp_path / "results.jsonl"
    started = datetime.now(UTC).date()  # the run may cross midnight
    assert (
        main(
            [
                "--size",
                "40",
                "--providers",
                "2",
                "--parts",
                "floor,engine",
                "--results",
                str(results),
            ]
        )
        == 0
    )
    point = json.loads(results.read_text(encoding="utf-8"))
    assert (point["size"], point["providers"], point["db"]) == (40, 2, "sqlite")
    assert {f["parser"] for f in point["floor"]} == {"json", "orjson"}
    assert all(f["cases"] == 40 for f in point["floor"])
    assert point["engine"]["cases"] == 40
    assert point["engine"]["deadlines"] > 40
    assert point["measured"]["on"] in {started.isoformat(), datetime.now(UTC).date().isoformat()}
    row = table(results).splitlines()[-1]  # the README's table names the day and the speed
    assert row.startswith("| 40 | 2 | sqlite |")
    assert point["measured"]["on"] in row
    assert f"| {point['engine']['validate_us'] + point['engine']['evaluate_us']:.0f} |" in row
    png = tmp_path / "plot.png"
    assert main(["--results", str(results), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments_are_refused() -> None:
    """Unknown parts and a naive run above 1 000 cases are usage errors."""
    with pytest.raises(SystemExit):
        parse_args(["--parts", "floor,warp"])
    with pytest.raises(SystemExit):
        parse_args(["--size", "5000", "--naive"])


def test_full_incremental_and_naive_runs(tmp_path: Path) -> None:
    """The Prefect runs (full, two re-runs, naive side by side) complete at 30 cases, and
    the floor is measured on both sides of the full run."""
    results = tmp_path / "results.jsonl"
    args = ["--size", "30", "--providers", "2", "--parts", "floor,full,incremental", "--naive"]
    assert main([*args, "--results", str(results), "--workdir", str(tmp_path / "work")]) == 0
    point = json.loads(results.read_text(encoding="utf-8"))
    runs = point["runs"]
    assert {runs[name]["state"] for name in ("full", "rerun_1pct", "rerun_none")} == {"Completed"}
    assert runs["full"]["task_runs"] == 2 + 3  # a check per provider, overview, notify, outages
    assert runs["full"]["rows_written"] > 0
    assert 0 < runs["full"]["vahti_pss_mb"] <= runs["full"]["tree_pss_mb"]
    assert point["naive_runs"]["side_by_side_naive"]["task_runs"] >= 30  # one per case
    assert "naive_over_vahti" in point["ratios"]
    assert {f["parser"] for f in point["floor_after"]} == {"json", "orjson"}
    assert point["ratios"]["full_over_floor"] > 0
    assert str(tmp_path / "work") not in results.read_text(encoding="utf-8")  # no machine paths


def test_prefect_overhead_entry_point(tmp_path: Path) -> None:
    """`python -m bench.prefect_overhead 3` runs in its own ephemeral Prefect home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_HOME": str(tmp_path),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path}/prefect.db",
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.prefect_overhead", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["tasks"] == 3
    assert result["seconds"] > 0
    assert result["seconds_per_task_ms"] == pytest.approx(1000 * result["seconds"] / 3)


def _holding_40_mb(*, seconds: float) -> str:
    """A Python program that touches 40 MB and keeps it for ``seconds``."""
    return (
        "b = bytearray(40 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
        f"import time; time.sleep({seconds})"
    )


def _sampled_until_exit(script: str, *, interval: float) -> TreeMemory:
    """``python -c script`` sampled from its start until it exits."""
    process = subprocess.Popen([sys.executable, "-c", script])
    memory = TreeMemory(process.pid, interval=interval)
    memory.start()
    process.wait()
    memory.stop()
    return memory


def test_tree_memory_adds_up_a_process_and_its_children() -> None:
    """The sampler sums the PSS of a process and its descendants (here: two children
    holding 40 MB each under a parent holding 40 MB)."""
    hold = _holding_40_mb(seconds=3)
    script = (
        "import subprocess, sys\n"
        f"kids = [subprocess.Popen([sys.executable, '-c', {hold!r}]) for _ in range(2)]\n"
        f"exec({hold!r})\n"
        "[k.wait() for k in kids]\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    memory = TreeMemory(parent.pid, interval=0.2)
    memory.start()
    time.sleep(2.0)
    memory.stop()
    parent.wait()
    assert memory.processes == 3
    assert memory.vahti_mb > 3 * 40
    assert memory.tree_mb >= memory.vahti_mb


def test_tree_memory_peak_is_the_trees_not_the_parents() -> None:
    """The largest peak RSS is one process of the tree's own: not the high-water mark of
    the process that started it (``wait4`` reports that one to a child started by vfork
    and exec, so a bench that had just parsed the floor's pages saw its own peak)."""
    ballast = bytearray(300 * 2**20)
    ballast[::4096] = b"x" * len(ballast[::4096])
    del ballast
    memory = _sampled_until_exit(_holding_40_mb(seconds=1.5), interval=0.2)
    assert 40 < memory.largest_mb < 200


def test_tree_memory_counts_cpu_seconds_per_role() -> None:
    """A child that uses a second of CPU is counted (as ``workers``: neither the flow's
    ``bench.child`` nor Prefect's server), with its last value once it is gone."""
    burn = (
        "import time\n"
        "while time.process_time() < 1.0: pass\n"
        "time.sleep(0.6)\n"  # alive for a sample after the second of CPU
    )
    script = (
        "import subprocess, sys, time\n"
        f"subprocess.run([sys.executable, '-c', {burn!r}])\n"
        "time.sleep(0.6)\n"
    )
    cpu = _sampled_until_exit(script, interval=0.1).cpu_seconds
    assert cpu["workers"] >= 0.9
    assert cpu["flow"] == cpu["api"] == 0.0
