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
    # The task run recorder writes each task-run event in its own transaction by default;
    # batched, a national check costs the API server a fraction of the CPU (bench/HISTORY.md)
    # and a task run still shows in the UI within a second.
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "50",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    # Prefect's own wait for its server is shorter than that server's start on a busy small
    # machine. Read by the flow's process when Prefect is first imported: import ``flows``
    # before ``prefect``.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}

for _name, _value in SERVER_DEFAULTS.items():
    os.environ.setdefault(_name, _value)
