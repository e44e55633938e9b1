"""Vahti's Prefect flows.

Importing the package sets defaults (never overrides) for the Prefect API server that
Vahti starts itself: Prefect's ephemeral mode, when a flow runs without
``PREFECT_API_URL`` (``vahti demo``, the benchmarks, a flow called from a script). That
server is a child process that reads its settings from this process's environment when
it starts, so the defaults must be in the environment before the first flow run. A
server started on its own (``prefect server start``, Prefect Cloud) takes its own
settings; ``docs/operations.md`` recommends the same ones there.
"""

from __future__ import annotations

import os

#: Prefect's defaults for the server, set when unset:
SERVER_DEFAULTS = {
    # The task run recorder writes each task-run event (three a task run: pending,
    # running, completed) in its own transaction by default (a batch of one). Batched, a
    # check's 200 provider task runs cost the API server 1.8-2.2 CPU seconds instead of
    # 7.5-7.9 on two cores (bench/HISTORY.md); a task run shows in the UI within a second.
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "50",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    # Prefect waits 20 s for the server to answer; on a busy 2-core machine its start alone
    # has taken 8-12 s of one core, and past 20 s next to other work. This one is read by
    # the flow's process when Prefect is first imported: import ``flows`` before ``prefect``.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}

for _name, _value in SERVER_DEFAULTS.items():
    os.environ.setdefault(_name, _value)
