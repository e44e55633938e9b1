"""A check's providers spread over a Prefect work pool: shards as ``provider-check`` runs.

``compliance-check`` in pool mode (``flows.fan_out = "pool"``) splits its providers into
shards of ``flows.shard_size`` and starts one ``provider-check`` flow run per shard with
``run_deployment`` (any worker of the pool picks it up), then watches the runs:

- a run that ended Crashed or Cancelled (its worker lost or stopped) is started again for
  the providers whose check had not completed, up to ``flows.shard_attempts`` runs; after
  that its providers fail with a message naming them, the other shards go on;
- a run not final within its bound (every provider's check time, plus a start-up slack) is
  asked to cancel and counts as a lost attempt;
- a provider whose check failed in a finished run (down, 401, bad data) is not re-run:
  that is the provider's failure, reported as in the local mode.

Which providers completed comes from the ``check-<id>`` task runs Prefect recorded for
each run (states only, no results): the summaries themselves are read from Vahti's
database afterwards (:func:`pipeline.steps.stored_checks_step`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.states import Cancelling

log = logging.getLogger("flows.pool")

#: Seconds between two looks at the shards' runs.
POLL_SECONDS = 2.0
#: Seconds a finished run's task runs may take to be recorded (Prefect records them from
#: events, in batches).
RECORD_LAG_SECONDS = 15.0
#: A shard's run may wait this long for a worker and a process start, on top of its checks.
START_SLACK_SECONDS = 300.0

_LOST = (StateType.CRASHED, StateType.CANCELLED)


def shards(provider_ids: Sequence[str], size: int) -> list[list[str]]:
    """``provider_ids`` in consecutive shards of at most ``size`` (never empty ones)."""
    return [list(provider_ids[i : i + size]) for i in range(0, len(provider_ids), max(1, size))]


@dataclass
class _Shard:
    providers: list[str]
    run_id: UUID | None = None
    started: float = 0.0
    attempts: int = 0
    left: list[str] = field(default_factory=list)  # not yet completed


@dataclass
class PoolOutcome:
    """Per provider: checked (its check completed in some run) or why not."""

    checked: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)
    runs: list[UUID] = field(default_factory=list)  # every provider-check run started


def run_shards(
    deployment: str,
    groups: list[list[str]],
    *,
    parameters: dict[str, object],
    attempts: int,
    per_provider_seconds: float,
    clock: Callable[[], float] = time.monotonic,
) -> PoolOutcome:
    """Run ``groups`` as ``deployment`` flow runs until each ended or ran out of attempts."""
    outcome = PoolOutcome()
    pending = [_Shard(providers=g, left=list(g)) for g in groups]
    with get_client(sync_client=True) as client:
        for shard in pending:
            _submit(deployment, shard, parameters, outcome)
        while pending:
            time.sleep(POLL_SECONDS)
            runs = _read_runs(client, [s.run_id for s in pending if s.run_id is not None])
            still: list[_Shard] = []
            for shard in pending:
                run = runs.get(shard.run_id) if shard.run_id else None
                bound = START_SLACK_SECONDS + per_provider_seconds * len(shard.left)
                if run is None or run.state is None or not run.state.is_final():
                    if clock() - shard.started <= bound:
                        still.append(shard)
                        continue
                    _cancel(client, shard, bound)
                    final: StateType | None = None
                    message = f"not finished within {bound:g} s (cancelled)"
                else:
                    final, message = run.state.type, run.state.message or run.state.name or ""
                if _settle(client, shard, final, message, attempts=attempts, outcome=outcome):
                    _submit(deployment, shard, parameters, outcome)
                    still.append(shard)
            pending = still
    return outcome


def _submit(
    deployment: str, shard: _Shard, parameters: dict[str, object], outcome: PoolOutcome
) -> None:
    shard.attempts += 1
    run: FlowRun = run_deployment(
        name=deployment,
        parameters={**parameters, "providers": list(shard.left)},
        timeout=0,  # started, not awaited: this flow watches every shard at once
    )  # type: ignore[assignment]  # synchronous outside an event loop
    shard.run_id, shard.started = run.id, time.monotonic()
    outcome.runs.append(run.id)
    log.info(
        "shard %s: provider-check run %s (attempt %d)",
        ",".join(shard.left),
        run.name,
        shard.attempts,
    )


def _settle(
    client: SyncPrefectClient,
    shard: _Shard,
    final: StateType | None,
    message: str,
    *,
    attempts: int,
    outcome: PoolOutcome,
) -> bool:
    """Record what a run that ended (or was given up) did; True: start it again."""
    states = _check_states(client, shard, wait=final not in (*_LOST, None))
    for provider_id in list(shard.left):
        state = states.get(provider_id)
        if state is StateType.COMPLETED or final is StateType.COMPLETED:
            outcome.checked.add(provider_id)
            shard.left.remove(provider_id)
        elif state is StateType.FAILED:
            outcome.errors[provider_id] = f"check failed in provider-check: {message}"
            shard.left.remove(provider_id)
    if not shard.left:
        return False
    lost = final in _LOST or final is None
    if lost and shard.attempts < attempts:
        log.warning("shard %s lost (%s): starting it again", ",".join(shard.left), message)
        return True
    why = (
        f"shard {', '.join(shard.left)}: provider-check ended {_name(final)} "
        f"{shard.attempts} time(s): {message}"
    )
    for provider_id in shard.left:
        outcome.errors[provider_id] = why
    log.error("%s", why)
    return False


def _check_states(client: SyncPrefectClient, shard: _Shard, *, wait: bool) -> dict[str, StateType]:
    """The final states of the run's ``check-<id>`` task runs, by provider id (``wait``: the
    run finished, so every check has a final state once Prefect recorded it)."""
    until = time.monotonic() + (RECORD_LAG_SECONDS if wait else 0.0)
    while True:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[shard.run_id]))
        )
        states = {
            t.name.removeprefix("check-"): t.state.type
            for t in task_runs
            if t.name.startswith("check-") and t.state is not None and t.state.is_final()
        }
        if all(p in states for p in shard.left) or time.monotonic() >= until:
            return states
        time.sleep(1.0)


def _read_runs(client: SyncPrefectClient, ids: list[UUID]) -> dict[UUID, FlowRun]:
    if not ids:
        return {}
    runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
    return {run.id: run for run in runs}


def _cancel(client: SyncPrefectClient, shard: _Shard, bound: float) -> None:
    """Ask the stuck run's worker to stop it (a dead worker's orphan stops by itself)."""
    if shard.run_id is None:
        return
    log.warning("shard %s: no final state within %g s: cancelling", ",".join(shard.left), bound)
    client.set_flow_run_state(shard.run_id, Cancelling(message="stuck: re-submitted"), force=True)


def _name(state: StateType | None) -> str:
    return "without a final state" if state is None else state.value.capitalize()
