"""The README's plot: compliance-check time against open cases, from the results file."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # files only, no display
import matplotlib.pyplot as plt


def load(results: Path) -> list[dict[str, Any]]:
    """Every JSON line of the results file (later runs of the same point win)."""
    points: dict[tuple[int, int, str], dict[str, Any]] = {}
    for line in results.read_text(encoding="utf-8").splitlines():
        if line.strip():
            data = json.loads(line)
            points[(data["size"], data["providers"], data["db"])] = data
    return [points[key] for key in sorted(points)]


def fastest_floor(point: dict[str, Any]) -> float | None:
    """The floor: the fastest parser's seconds to fetch and parse everything."""
    seconds = [f["seconds"] for f in point.get("floor", [])]
    return min(seconds) if seconds else None


def draw(results: Path, target: Path) -> None:
    """Full run, re-runs and the floor against cases, one line per provider count and db."""
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for point in load(results):
        runs = point.get("runs", {})
        label = f"{point['providers']} providers, {point['db']}"
        for key, name in (
            ("full", "full"),
            ("rerun_1pct", "1 % changed"),
            ("rerun_none", "unchanged"),
        ):
            if key in runs:
                series[f"{name}: {label}"].append((point["size"], runs[key]["flow_seconds"]))
        floor = fastest_floor(point)
        if floor is not None:
            series[f"floor: {label}"].append((point["size"], floor))
    figure, axes = plt.subplots(figsize=(8, 5), dpi=110)
    for name, values in sorted(series.items()):
        values.sort()
        style = "--" if name.startswith("floor") else ("-" if name.startswith("full") else ":")
        axes.plot([v[0] for v in values], [v[1] for v in values], style, marker="o", label=name)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("open cases")
    axes.set_ylabel("seconds (flow run)")
    axes.set_title("compliance-check time against cases")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(target)
    plt.close(figure)


def table(results: Path) -> str:
    """The README's results table (markdown), one row per measured point."""
    header = (
        "| cases | providers | db | floor s | full s | flow RSS MB | tree RSS MB | rows "
        "| task runs | 1 % changed s | unchanged s | full / floor |"
    )
    lines = [
        header,
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for point in load(results):
        runs = point.get("runs", {})
        floor = fastest_floor(point)
        full = runs.get("full", {})

        def seconds(run: dict[str, Any]) -> str:
            return f"{run['flow_seconds']:.1f}" if run else "-"

        ratio = f"{full['flow_seconds'] / floor:.1f}" if full and floor else "-"
        lines.append(
            f"| {point['size']} | {point['providers']} | {point['db']} "
            f"| {f'{floor:.1f}' if floor else '-'} | {seconds(full)} "
            f"| {full.get('flow_rss_mb', 0):.0f} | {full.get('peak_rss_mb', 0):.0f} "
            f"| {full.get('rows_written', '-')} "
            f"| {full.get('task_runs', '-')} | {seconds(runs.get('rerun_1pct', {}))} "
            f"| {seconds(runs.get('rerun_none', {}))} | {ratio} |"
        )
    return "\n".join(lines)
