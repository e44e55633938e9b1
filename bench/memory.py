"""Peak memory of a process tree, sampled: what the flow and its workers hold together.

``wait4`` reports the largest single process of a tree; with the provider checks in
worker processes the figure that matters is the sum. Every ``interval`` seconds (1 s:
reading a big process's ``smaps_rollup`` walks its page tables, and sampling more
often took a noticeable share of a core from the run it measures), the
sampler adds up the proportional set size (PSS: shared pages split between the
processes that share them, so the fork server's imports are not counted once per
worker) of the process and its descendants, apart and together with Prefect's
ephemeral API server (a child of the flow process, not Vahti's own memory).
"""

from __future__ import annotations

import threading
from pathlib import Path

PROC = Path("/proc")


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def _pss_kib(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _is_prefect_api(pid: int) -> bool:
    try:
        return b"prefect.server" in (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False


class TreeMemory(threading.Thread):
    """Samples a process tree's PSS until :meth:`stop`; peaks in MB (0 if /proc is absent)."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        super().__init__(name="tree-memory", daemon=True)
        self.pid = pid
        self.interval = interval
        self.vahti_mb = 0.0  # the flow process, the fork server and the workers
        self.tree_mb = 0.0  # the same plus Prefect's ephemeral API server
        self.processes = 0  # the most Vahti processes alive at once
        self._stopped = threading.Event()

    def run(self) -> None:
        if not PROC.exists():
            return
        while not self._stopped.wait(self.interval):
            vahti = api = 0
            count = 0
            for pid in _descendants(self.pid):
                pss = _pss_kib(pid)
                if _is_prefect_api(pid):
                    api += pss
                else:
                    vahti += pss
                    count += 1 if pss else 0
            self.vahti_mb = max(self.vahti_mb, vahti / 1024)
            self.tree_mb = max(self.tree_mb, (vahti + api) / 1024)
            self.processes = max(self.processes, count)

    def stop(self) -> None:
        self._stopped.set()
        self.join()
