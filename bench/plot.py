"""The README's plot: compliance-check time against open cases, from the results file."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from bench.floor import fastest_floor


def load(results: Path) -> list[dict[str, Any]]:
    """Every JSON line of the results file (later runs of the same point win)."""
    points: dict[tuple[int, int, str], dict[str, Any]] = {}
    for line in results.read_text(encoding="utf-8").splitlines():
        if line.strip():
            data = json.loads(line)
            points[(data["size"], data["providers"], data["db"])] = data
    return [points[key] for key in sorted(points)]


KINDS = {
    "full": "tab:blue",
    "1 % changed": "tab:orange",
    "unchanged": "tab:green",
    "floor": "tab:gray",
}
PROVIDER_STYLES = {1: ":", 20: "--", 200: "-"}


def draw(results: Path, target: Path) -> None:
    """Seconds against cases, one panel per database: colour = run, line = providers."""
    series: dict[tuple[str, str, int], list[tuple[int, float]]] = defaultdict(list)
    for point in load(results):
        runs = point.get("runs", {})
        key = (point["db"], point["providers"])
        for run, kind in (
            ("full", "full"),
            ("rerun_1pct", "1 % changed"),
            ("rerun_none", "unchanged"),
        ):
            if run in runs:
                series[(key[0], kind, key[1])].append((point["size"], runs[run]["flow_seconds"]))
        floor = fastest_floor(point)
        if floor is not None:
            series[(key[0], "floor", key[1])].append((point["size"], floor))
    dbs = sorted({db for db, _, _ in series}) or ["sqlite"]
    figure, panels = plt.subplots(
        1, len(dbs), figsize=(5 * len(dbs) + 2.5, 4.6), dpi=110, squeeze=False
    )
    for axes, db in zip(panels[0], dbs, strict=True):
        for (where, kind, providers), values in sorted(series.items()):
            if where != db:
                continue
            values.sort()
            axes.plot(
                [v[0] for v in values],
                [v[1] for v in values],
                PROVIDER_STYLES.get(providers, "-."),
                color=KINDS[kind],
                marker="o",
                label=f"{kind}, {providers} provider{'s' if providers != 1 else ''}",
            )
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("open cases")
        axes.set_ylabel("seconds (flow run; floor: fetch and parse)")
        axes.set_title(f"compliance-check on {db}")
        axes.grid(True, which="both", alpha=0.3)
    handles, labels = panels[0][-1].get_legend_handles_labels()
    for axes in panels[0][:-1]:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    figure.legend(handles, labels, loc="center right", fontsize=7)
    figure.tight_layout(rect=(0, 0, 1 - 2.3 / (5 * len(dbs) + 2.5), 1))
    figure.savefig(target)
    plt.close(figure)


def table(results: Path) -> str:
    """The README's results table (markdown), one row per measured point."""
    header = (
        "| cases | providers | db | floor s | full s | Vahti PSS MB | flow RSS MB | rows "
        "| task runs | 1 % changed s | unchanged s | full / floor | engine µs | measured |"
    )
    lines = [
        header,
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for point in load(results):
        runs = point.get("runs", {})
        floor = fastest_floor(point)
        full = runs.get("full", {})

        def seconds(run: dict[str, Any]) -> str:
            return f"{run['flow_seconds']:.1f}" if run else "-"

        ratio = f"{full['flow_seconds'] / floor:.1f}" if full and floor else "-"
        engine = point.get("engine")
        speed = f"{engine['validate_us'] + engine['evaluate_us']:.0f}" if engine else "-"
        measured = point.get("measured", {})
        when = " ".join(str(measured[k]) for k in ("on", "commit") if measured.get(k)) or "-"
        lines.append(
            f"| {point['size']} | {point['providers']} | {point['db']} "
            f"| {f'{floor:.1f}' if floor else '-'} | {seconds(full)} "
            f"| {full.get('vahti_pss_mb', 0):.0f} | {full.get('flow_rss_mb', 0):.0f} "
            f"| {full.get('rows_written', '-')} "
            f"| {full.get('task_runs', '-')} | {seconds(runs.get('rerun_1pct', {}))} "
            f"| {seconds(runs.get('rerun_none', {}))} | {ratio} | {speed} | {when} |"
        )
    return "\n".join(lines)
