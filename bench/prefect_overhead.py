"""Prefect's own cost per task run: ``python -m bench.prefect_overhead [TASKS]``.

A flow that submits TASKS no-op tasks with the check task's options (a run name per
provider, results not persisted) and waits for them, run twice in one process in
Prefect's ephemeral mode (the first run pays the API's warm-up). Prints one JSON line:
seconds and CPU seconds of the second run, and both per task run. What a provider
costs Vahti beyond this is its own work (see bench/README.md).
"""

from __future__ import annotations

import json
import sys
import time

import flows  # noqa: F401 - Vahti's defaults for Prefect's ephemeral server, before Prefect

# isort: split
from prefect import flow, task


@task(name="noop", task_run_name="noop-{provider_id}", persist_result=False)
def noop_task(provider_id: str) -> dict[str, object]:
    return {"provider": provider_id, "counts": list(range(12))}  # a summary-sized result


@flow(name="prefect-overhead")
def overhead(tasks: int) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    futures = [noop_task.submit(f"p{i:03d}") for i in range(tasks)]
    for future in futures:
        future.result()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return {"tasks": tasks, "seconds": seconds, "cpu_seconds": cpu_seconds}


def main(argv: list[str]) -> int:
    tasks = int(argv[0]) if argv else 200
    overhead(tasks)  # warm-up: the ephemeral API's first requests
    result = overhead(tasks)
    per_task = {f"{k}_per_task_ms": 1000 * result[k] / tasks for k in ("seconds", "cpu_seconds")}
    sys.stdout.write(json.dumps(result | per_task) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
