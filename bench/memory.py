"""Peak memory of a process tree, sampled: what the flow and its workers hold together.

One process's peak says little with the provider checks in worker processes: the figure
that matters is the sum. Every ``interval`` seconds (1 s:
reading a big process's ``smaps_rollup`` walks its page tables, and sampling more
often took a noticeable share of a core from the run it measures), the
sampler adds up the proportional set size (PSS: shared pages split between the
processes that share them, so the fork server's imports are not counted once per
worker) of the process and its descendants, apart and together with Prefect's
ephemeral API server (a child of the flow process, not Vahti's own memory), and keeps
the largest ``VmHWM`` (peak RSS) of any one process. Not ``wait4``'s ``ru_maxrss``: a
child started by ``vfork`` and ``exec`` inherits the parent's high-water mark, so it
reports the bench's own peak whenever that is the larger.

The same samples give the CPU seconds of each role (the flow process, Vahti's other
processes, Prefect's API server): the last sample of each process, so up to one
interval of a process's last second is missing (``wait4`` would not count them all: the
flow process does not reap every child).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


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


def _kib(pid: int, file: str, key: str) -> int:
    """The ``key:`` line of ``/proc/PID/file`` in KiB (0 once the process is gone)."""
    try:
        for line in (PROC / str(pid) / file).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _pss_kib(pid: int) -> int:
    return _kib(pid, "smaps_rollup", "Pss:")


def peak_rss_kib(pid: int) -> int:
    """The process's peak RSS so far (``VmHWM``)."""
    return _kib(pid, "status", "VmHWM:")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (0 once it is gone)."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime: fields 14, 15


def _role(pid: int) -> str:
    """``api`` (Prefect's server), ``flow`` (``bench.child``), ``profiler`` (py-spy) or
    ``workers`` (the fork server and its workers: forked, they keep its command line)."""
    try:
        command = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "workers"
    if b"prefect.server" in command:
        return "api"
    if b"py-spy" in command:
        return "profiler"
    if b"forkserver" in command:
        return "workers"
    return "flow" if b"bench.child" in command else "workers"


class TreeMemory(threading.Thread):
    """Samples a process tree's PSS until :meth:`stop`; peaks in MB (0 if /proc is absent)."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        super().__init__(name="tree-memory", daemon=True)
        self.pid = pid
        self.interval = interval
        self.vahti_mb = 0.0  # the flow process, the fork server and the workers
        self.tree_mb = 0.0  # the same plus Prefect's ephemeral API server
        self.processes = 0  # the most Vahti processes alive at once
        self.largest_mb = 0.0  # the largest peak RSS of one process of the tree (VmHWM)
        self._roles: dict[int, str] = {}  # pid -> role, read once a process
        self._cpu: dict[int, float] = {}  # pid -> its CPU seconds when last seen alive
        self._stopped = threading.Event()

    def run(self) -> None:
        if not PROC.exists():
            return
        while not self._stopped.wait(self.interval):
            vahti = api = 0
            count = 0
            for pid in _descendants(self.pid):
                if pid not in self._roles:
                    self._roles[pid] = _role(pid)
                role = self._roles[pid]
                self._cpu[pid] = _cpu_seconds(pid) or self._cpu.get(pid, 0.0)  # 0: just gone
                if role == "profiler":
                    continue
                self.largest_mb = max(self.largest_mb, peak_rss_kib(pid) / 1024)
                pss = _pss_kib(pid)
                if role == "api":
                    api += pss
                else:
                    vahti += pss
                    count += 1 if pss else 0
            self.vahti_mb = max(self.vahti_mb, vahti / 1024)
            self.tree_mb = max(self.tree_mb, (vahti + api) / 1024)
            self.processes = max(self.processes, count)

    @property
    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds per role: ``flow``, ``workers`` (fork server and workers), ``api``."""
        roles = {"flow": 0.0, "workers": 0.0, "api": 0.0}
        for pid, seconds in self._cpu.items():
            if self._roles[pid] in roles:
                roles[self._roles[pid]] += seconds
        return {role: round(seconds, 2) for role, seconds in roles.items()}

    def stop(self) -> None:
        self._stopped.set()
        self.join()
