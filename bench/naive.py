"""The naive design, for comparison only: one Prefect task per case.

What a first Prefect version often looks like: fetch the cases, then ``submit`` one task
per case that validates it, stores it, evaluates it and stores its deadlines, and one
notify task at the end. Same steps and the same store functions as Vahti, different
granularity. Not tuned on purpose: the ratio against ``compliance-check`` shows what
per-case orchestration costs (task runs, state writes, a transaction per case).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from prefect import flow, task

import rules
from contract import validate
from models.db import make_engine, session_scope
from models.deadlines import store_deadlines
from models.reads import load_audits, load_coaches
from models.schema import ensure_schema
from models.store import ensure_provider, store_cases
from pipeline.steps import notify_step, settings_from
from providers.client import ProviderClient


@task(name="naive-case", persist_result=False)
def check_case(config: str, provider_id: str, raw: dict[str, Any], today_on: str) -> int:
    """Validate, store, evaluate and store the deadlines of one case."""
    settings = settings_from(config)
    today = date.fromisoformat(today_on)
    valid, _ = validate.validate_cases([raw])
    if not valid:
        return 0
    engine = make_engine(settings.database.url)
    try:
        with session_scope(engine) as session:
            now = datetime.now(UTC)
            store_cases(
                session=session, provider_id=provider_id, items=[(valid[0], raw)], received_at=now
            )
            audits = load_audits(session=session, provider_id=provider_id)
            staff = load_coaches(session=session, provider_id=provider_id)
            found = rules.evaluate(valid, audits, staff, None, today, rules.FinnishCalendar())
            store_deadlines(
                session=session, provider_id=provider_id, deadlines=found, evaluated_on=today
            )
        return len(found)
    finally:
        engine.dispose()


@flow(name="naive-check", persist_result=False)
def naive_check(config: str, today: str, now: str) -> dict[str, object]:
    """Fetch every provider's cases, then one task per case, then notify."""
    settings = settings_from(config)
    engine = make_engine(settings.database.url)
    ensure_schema(engine)
    futures = []
    for provider in settings.providers:
        with session_scope(engine) as session:
            ensure_provider(
                session=session, provider_id=provider.id, name=provider.name, now=datetime.now(UTC)
            )
        with ProviderClient(provider, token=provider.token()) as client:
            for page in client.iter_pages("cases"):
                futures += [
                    check_case.submit(config, provider.id, item, today) for item in page.items
                ]
    engine.dispose()
    deadlines = sum(f.result() for f in futures)
    notified = notify_step(config, now)
    return {
        "providers": [],
        "deadlines": {"all": deadlines},
        "alerts": notified.to_json(),
        "problems": [],
    }
