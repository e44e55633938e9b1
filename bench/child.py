"""One measured flow run in a fresh process: ``python -m bench.child MODE CONFIG TODAY NOW``.

The parent sets Prefect's environment (isolated home, ephemeral API) before this
process starts, so nothing here can reach a real Prefect server. A loopback SMTP sink
(``reference.mail.MaildirSink``) receives the alerts; its port reaches the
Apprise URLs through :data:`PORT_ENV`. The last line printed is the JSON result.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from bench.memory import peak_rss_kib
from reference.mail import MaildirSink

PORT_ENV = "VAHTI_BENCH_SMTP_PORT"
PROFILE_ENV = "VAHTI_BENCH_PROFILE"  # a file: write a pyinstrument profile of the flow there


async def _count_task_runs(flow_run_id: UUID) -> tuple[int, float, dict[str, float]]:
    """Task runs the API holds for the flow run (they arrive as events: wait until stable),
    the flow run's own duration (start to end, as Prefect recorded it) and, per task name
    (``check``, ``overview``, ``notify``), the seconds from its first start to its last end."""
    from prefect.client.orchestration import get_client  # noqa: PLC0415
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId  # noqa: PLC0415

    flow_filter = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    last, steady = -1, 0
    runs: list[Any] = []
    async with get_client() as client:
        for _ in range(60):
            runs, offset = [], 0
            while True:
                batch = await client.read_task_runs(
                    flow_run_filter=flow_filter, limit=200, offset=offset
                )
                runs += batch
                offset += 200
                if len(batch) < 200:
                    break
            steady = steady + 1 if len(runs) == last else 0
            if steady == 3:  # the same count three seconds running: every event is in
                break
            last = len(runs)
            await asyncio.sleep(1.0)
        run = await client.read_flow_run(flow_run_id)
    seconds = (
        (run.end_time - run.start_time).total_seconds() if run.end_time and run.start_time else 0.0
    )
    spans: dict[str, list[Any]] = {}
    for task_run in runs:
        if task_run.start_time and task_run.end_time:
            name = task_run.name.split("-", 1)[0]
            first, end = spans.setdefault(name, [task_run.start_time, task_run.end_time])
            spans[name] = [min(first, task_run.start_time), max(end, task_run.end_time)]
    phases = {name: (end - first).total_seconds() for name, (first, end) in spans.items()}
    return last, seconds, phases


@contextmanager
def _profiled() -> Iterator[None]:
    """Profile the flow call with pyinstrument when :data:`PROFILE_ENV` names a file."""
    target = os.environ.get(PROFILE_ENV)
    if not target:
        yield
        return
    from pyinstrument import Profiler  # noqa: PLC0415 - a dev dependency, only when asked

    profiler = Profiler(interval=0.005, async_mode="disabled")
    with profiler:
        yield
    Path(target).write_text(profiler.output_text(unicode=True, show_all=False), encoding="utf-8")


def _peak_rss_mb() -> float:
    """This process's own peak RSS (``VmHWM``): the flow, without the ephemeral API server.

    In ephemeral mode Prefect's API server is a child of this process, with its own.
    """
    return peak_rss_kib(os.getpid()) / 1024


def run(mode: str, config: str, today: str, now: str) -> dict[str, Any]:
    """Run the compliance-check (or the naive design) once; time it; count its task runs."""
    with MaildirSink(record=False) as sink:
        os.environ[PORT_ENV] = str(sink.port)
        import_started = time.perf_counter()
        flow: Any
        if mode == "naive":
            from bench.naive import naive_check as flow  # noqa: PLC0415
        else:
            from flows.compliance import compliance_check as flow  # noqa: PLC0415
        imported = time.perf_counter()
        with _profiled():
            state: Any = flow(config=config, today=today, now=now, return_state=True)
        finished = time.perf_counter()
        outcome = state.result(raise_on_failure=False)
        outcome = getattr(outcome, "data", outcome)  # a Failed run's IncompleteRunError keeps it
        flow_run_id = state.state_details.flow_run_id
    task_runs, run_seconds, phases = asyncio.run(_count_task_runs(flow_run_id))
    summary: dict[str, Any] = outcome if isinstance(outcome, dict) else {"error": str(outcome)}
    providers: list[dict[str, Any]] = summary.get("providers") or []
    return {
        "flow_process_peak_mb": _peak_rss_mb(),
        "state": state.name,
        "message": state.message,
        "import_seconds": imported - import_started,
        "call_seconds": finished - imported,
        "flow_seconds": run_seconds,
        "task_runs": task_runs,
        "phase_seconds": phases,
        "fetched": sum(int(p.get("fetched", 0)) for p in providers),
        "stored": sum(int(p.get("stored", 0)) for p in providers),
        "alerts": summary.get("alerts"),
        "deadlines": summary.get("deadlines"),
        "problems": summary.get("problems"),
    }


def main(argv: list[str]) -> int:
    mode, config, today, now = argv
    result = run(mode, config, today, now)
    sys.stdout.write("\n" + json.dumps(result, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
