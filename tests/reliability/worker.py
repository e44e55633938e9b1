"""A Vahti run in its own process, for the crash and concurrency tests.

    python -m tests.reliability.worker SETTINGS.json NOW [--steps sync,evaluate,notify]

Runs the chosen steps in order (sync every provider, evaluate the stored data on NOW's
date, notify at NOW) and prints one ``EVENT <name>`` line, flushed, at each point worth
killing it at: after a page is written but before it commits (``page``), after each
provider's evaluation is written but before it commits (``evaluated``), and at the
notify hook's points (``claimed``, ``delivered`` = the receiver accepted the digest and
the ledger does not know yet, ``recorded``). The parent reads these lines and SIGKILLs
the process at a seeded one. The last line is ``DONE {json}`` with the reports.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import rules
from core.config import Settings
from models import ledger, reads, store
from models.db import make_engine, session_scope
from models.deadlines import store_deadlines
from models.schema import ensure_schema
from notifications import dispatch, service
from providers.sync import sync_all

#: ``NAME:SECONDS``: pause after each NAME event, so a kill aimed at it lands in its window.
PAUSE_ENV = "VAHTI_WORKER_PAUSE"
_announce = False


def event(name: str, detail: str = "") -> None:
    """Tell the parent where this process is (one line, flushed at once)."""
    if not _announce:
        return
    sys.stdout.write(f"EVENT {name} {detail}\n")
    sys.stdout.flush()
    pause_name, _, seconds = os.environ.get(PAUSE_ENV, "").partition(":")
    if pause_name == name:
        time.sleep(float(seconds))


def _announcing(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if result is not None:  # ledger.claim: None when another run owns the rows
            event(name, str(kwargs.get("provider_id", "")))
        return result

    return wrapper


def evaluate(settings: Settings, now: datetime) -> dict[str, int]:
    """Evaluate each provider's stored open subjects and store the deadlines (history kept)."""
    today = now.astimezone(ZoneInfo(settings.alerts.timezone)).date()
    engine = make_engine(settings.database.url)
    written: dict[str, int] = {}
    try:
        ensure_schema(engine)
        for provider in settings.providers:
            with session_scope(engine) as session:
                pid = provider.id
                deadlines = rules.evaluate(
                    reads.load_cases(session=session, provider_id=pid, today=today),
                    reads.load_audits(session=session, provider_id=pid),
                    reads.load_coaches(session=session, provider_id=pid),
                    None,
                    today,
                    rules.FinnishCalendar(),
                    provider_id=pid,
                )
                result = store_deadlines(
                    session=session,
                    provider_id=pid,
                    deadlines=deadlines,
                    evaluated_on=today,
                    recorded_at=now,
                    retire_missing=True,
                )
                written[pid] = result.new + result.changed
                event("evaluated", pid)
    finally:
        engine.dispose()
    return written


def compliance(settings_file: str, now: datetime) -> dict[str, object]:
    """Run the ``compliance-check`` flow once (Prefect's ephemeral API, set up by the caller)."""
    from flows.compliance import compliance_check  # noqa: PLC0415 - only this step needs Prefect

    toml_file = settings_file.removesuffix(".json") + ".toml"
    state = compliance_check(config=toml_file, now=now.isoformat(), return_state=True)
    return {"state": state.type.value, "message": state.message or ""}


def main(argv: list[str]) -> int:
    """Run the steps; exit 0 (failures are in the printed reports)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("settings")
    parser.add_argument("now")
    parser.add_argument("--steps", default="sync,evaluate,notify")
    args = parser.parse_args(argv)
    global _announce  # noqa: PLW0603 - set once, in the worker process only
    _announce = True
    with open(args.settings, encoding="utf-8") as handle:  # noqa: PTH123
        settings = Settings.model_validate(json.load(handle))
    now = datetime.fromisoformat(args.now)
    steps = args.steps.split(",")
    store.store_cases = _announcing(store.store_cases, "page")  # type: ignore[assignment]
    store.store_audits = _announcing(store.store_audits, "page")  # type: ignore[assignment]
    ledger.claim = _announcing(ledger.claim, "claimed")  # type: ignore[assignment]
    dispatch.deliver = _announcing(dispatch.deliver, "delivered")  # type: ignore[assignment]
    done: dict[str, object] = {}
    if "sync" in steps:
        done["sync"] = [r.to_json() for r in sync_all(settings)]
    if "evaluate" in steps:
        done["evaluate"] = evaluate(settings, now)
    if "notify" in steps:
        done["notify"] = service.notify(settings, now=now).to_json()
    if "compliance" in steps:
        done["compliance"] = compliance(args.settings, now)
    sys.stdout.write("DONE " + json.dumps(done) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
