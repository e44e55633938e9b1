"""``python -m bench --size N --providers K [--db sqlite|postgres] [...]``.

One invocation measures one size and provider count, each comparison side by side in
the same run: the floor (httpx + JSON parser), the engine alone, then the full
compliance-check on a fresh database, a re-run after 1 % of the cases changed and a
re-run after nothing changed (both on the following days, so every status is
re-derived for the new date). ``--naive`` adds the one-task-per-case design (only up
to 1 000 cases). Results are printed and appended as JSON lines to ``--results``;
``--plot`` draws the time-against-cases PNG from that file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.engine import measure_engine
from bench.floor import fastest_floor, measure_floor
from bench.full import RunResult, drop_site, make_site, run_flow
from bench.server import ProviderProcess

TODAY = date(2026, 3, 10)  # a Tuesday, a working day; the next two days are too
CLOCK = "10:00:00+02:00"  # inside the default 08-16 send window
NAIVE_MAX = 1000
PARTS = ("floor", "engine", "full", "incremental")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="open cases in total")
    parser.add_argument("--providers", type=int, default=20, help="providers sharing them")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("VAHTI_TEST_POSTGRES_URL"),
        help="an existing PostgreSQL database; the bench creates and drops its own next to it",
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}"
    )
    parser.add_argument("--naive", action="store_true", help="also run the naive design")
    parser.add_argument("--results", type=Path, help="append the results as one JSON line")
    parser.add_argument("--workdir", type=Path, help="keep databases here (default: temporary)")
    parser.add_argument("--plot", type=Path, help="draw the PNG from --results and exit")
    parser.add_argument("--table", action="store_true", help="print --results as markdown, exit")
    args = parser.parse_args(argv)
    unknown = set(args.parts.split(",")) - set(PARTS)
    if unknown:
        parser.error(f"--parts: unknown {sorted(unknown)}")
    if args.naive and args.size > NAIVE_MAX:
        parser.error(f"--naive runs only up to {NAIVE_MAX} cases")
    return args


def _at(day: date) -> str:
    return f"{day.isoformat()}T{CLOCK}"


def _row(name: str, run: RunResult) -> str:
    phases = run.child.get("phase_seconds") or {}
    spans = ", ".join(f"{task} {seconds:.1f} s" for task, seconds in sorted(phases.items()))
    cpu = ", ".join(f"{role} {seconds:.1f}" for role, seconds in run.cpu_seconds.items())
    pad = " " * 22
    lines = [
        (
            f"  {name:<22} {run.flow_seconds:8.2f} s (process {run.process_seconds:6.2f} s)  "
            f"RSS {run.flow_rss_mb:7.1f} MB (tree {run.peak_rss_mb:7.1f})  "
            f"rows {run.rows_written:>9}  task runs {run.task_runs:>4}  {run.state}"
        ),
        (
            f"  {pad} memory: Vahti {run.vahti_pss_mb:.1f} MB PSS in {run.processes} process(es)"
            f" at most, {run.tree_pss_mb:.1f} MB with Prefect's API server"
        ),
    ]
    if cpu:
        lines.append(f"  {pad} CPU s: {cpu}")
    if spans:
        lines.append(f"  {pad} tasks: {spans}")
    return "\n".join(lines)


def _result(data: dict[str, Any]) -> RunResult:
    known = {k: v for k, v in data.items() if k in RunResult.__dataclass_fields__}
    return RunResult(**{"flow_rss_mb": 0.0} | known)


def _floor(server: ProviderProcess, out: dict[str, Any], key: str, emit: Any) -> None:
    """Measure the floor with each parser; keep it in ``out[key]`` and print it."""
    floors = measure_floor(server)
    out[key] = [asdict(f) | {"cases_per_second": f.cases_per_second} for f in floors]
    label = key.replace("_", " ")
    for f in floors:
        emit(
            f"  {label + f' ({f.parser})':<22} {f.seconds:8.2f} s  {f.cases} cases  "
            f"{f.cases_per_second:8.0f} cases/s  {f.megabytes:.0f} MB"
        )


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    parts = set(args.parts.split(","))
    out: dict[str, Any] = {"size": args.size, "providers": args.providers, "db": args.db}
    out["measured"] = {"on": datetime.now(UTC).date().isoformat(), "commit": _commit()}
    emit = print
    emit(f"== {args.size} cases over {args.providers} provider(s), {args.db}")
    started = time.perf_counter()
    with ProviderProcess(cases=args.size, providers=args.providers, today=TODAY) as server:
        emit(f"  reference provider ready in {time.perf_counter() - started:.1f} s")
        if "floor" in parts:
            _floor(server, out, "floor", emit)
        if "engine" in parts:
            engine = measure_engine(args.size, TODAY)
            out["engine"] = asdict(engine) | {
                "validate_us": engine.validate_us,
                "evaluate_us": engine.evaluate_us,
            }
            emit(
                f"  engine ({engine.cases} cases)    validate {engine.validate_us:6.1f} µs/case  "
                f"evaluate {engine.evaluate_us:6.1f} µs/case "
                f"({engine.evaluate_per_second:.0f} cases/s, {engine.deadlines} deadlines)"
            )
        if parts & {"full", "incremental"}:

            def after_full() -> None:  # bracket the full run: the machine's speed drifts
                if "floor" in parts:
                    _floor(server, out, "floor_after", emit)

            out["runs"] = _flow_runs(args, server, workdir / "vahti", parts, after_full)
            for name, result in out["runs"].items():
                emit(_row(name, _result(result)))
        if args.naive:
            out["naive_runs"] = _naive(args, server, workdir)
            for name, result in out["naive_runs"].items():
                emit(_row(name, _result(result)))
    _ratios(out, emit)
    return out


def _commit() -> str | None:
    """The checkout's short commit (``+`` when it has uncommitted changes), if it is one."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+" if dirty else "")


def _git(*args: str) -> str:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=10
    )
    return done.stdout.strip()


def _flow_runs(
    args: argparse.Namespace,
    server: ProviderProcess,
    root: Path,
    parts: set[str],
    after_full: Callable[[], None],
) -> dict[str, Any]:
    site = make_site(root, server, args.db, args.postgres_url)
    runs: dict[str, Any] = {}
    try:
        first = run_flow(site, server.token, label="full", today=TODAY.isoformat(), now=_at(TODAY))
        runs["full"] = asdict(first)
        after_full()
        if "incremental" in parts:
            day = TODAY + timedelta(days=1)
            touched = server.touch(0.01)
            changed = run_flow(
                site, server.token, label="rerun-1pct", today=day.isoformat(), now=_at(day)
            )
            runs["rerun_1pct"] = asdict(changed) | {"touched": touched}
            day += timedelta(days=1)
            same = run_flow(
                site, server.token, label="rerun-none", today=day.isoformat(), now=_at(day)
            )
            runs["rerun_none"] = asdict(same)
    finally:
        drop_site(site, args.postgres_url)
    return runs


def _naive(args: argparse.Namespace, server: ProviderProcess, workdir: Path) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    for mode in ("full", "naive"):
        site = make_site(workdir / f"side-{mode}", server, args.db, args.postgres_url)
        try:
            result = run_flow(
                site, server.token, label=mode, today=TODAY.isoformat(), now=_at(TODAY), mode=mode
            )
            runs[f"side_by_side_{mode}"] = asdict(result)
        finally:
            drop_site(site, args.postgres_url)
    return runs


def _ratios(out: dict[str, Any], emit: Any) -> None:
    ratios: dict[str, float] = {}
    floor = fastest_floor(out)  # the fastest parser, before and right after the full run
    runs = out.get("runs", {})
    if "full" in runs and floor:
        ratios["full_over_floor"] = runs["full"]["flow_seconds"] / floor
    naive = out.get("naive_runs", {})
    if naive:
        ratios["naive_over_vahti"] = (
            naive["side_by_side_naive"]["flow_seconds"] / naive["side_by_side_full"]["flow_seconds"]
        )
    out["ratios"] = ratios
    for name, value in ratios.items():
        emit(f"  {name:<22} {value:8.2f}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.plot is not None or args.table:
        from bench.plot import draw, table  # noqa: PLC0415 - matplotlib only when plotting

        if args.results is None:
            raise SystemExit("--plot and --table need --results FILE")
        if args.table:
            print(table(args.results))
        if args.plot is not None:
            draw(args.results, args.plot)
        return 0
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="vahti-bench-")) if temporary else args.workdir
    try:
        out = run(args, workdir)
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.results is not None:  # the results file names no path of this machine
        line = json.dumps(out, default=str).replace(str(workdir.resolve()), "<workdir>")
        with args.results.open("a", encoding="utf-8") as handle:
            handle.write(line.replace(str(workdir), "<workdir>") + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
