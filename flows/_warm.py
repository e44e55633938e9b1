"""Imported last by the fork server of Vahti's worker processes (:mod:`flows.workers`).

Fills, once and before any worker is forked, the process-wide caches that every
provider check fills on its first use: Finland's holidays (the ``holidays`` package loads
its country and its translations on first use), the HTTP transport (httpx imports
httpcore with its first client) and the ORM's mappers (configured on the first query).
Without this each worker fills its own in its first check, all of them at once, when the
check phase starts (bench/HISTORY.md, "figures that were in the code"). Nothing here
leaves a file, a socket or a thread open for a fork to share; the collector is tuned
before the fork (:mod:`core.process`).
Apprise is not loaded: the workers plan alerts without it (the flow validated the
recipients' URLs before the checks).
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpcore  # noqa: F401 - imported, not used: what httpx's first client would import
from sqlalchemy.orm import configure_mappers

from core.process import tune_collector
from rules.calendar import FinnishCalendar

FinnishCalendar().holidays_in(datetime.now(UTC).year)
configure_mappers()
tune_collector()  # before the fork: every worker starts tuned, with this heap frozen
