"""Vahti's pure deadline engine: rule pack, Finnish calendar, ``evaluate``.

No clock, no I/O: ``today`` and the calendar are inputs. Importing this package never
loads prefect, sqlmodel, sqlalchemy, httpx or apprise (a test proves it).
"""

from __future__ import annotations

from rules.calendar import FinnishCalendar
from rules.deadline import Deadline, Status
from rules.engine import RULE_IDS, WARN_DAYS, evaluate, evaluate_cases, evaluate_others
from rules.explain import Env
from rules.pack import PACKS, Parameter, RulePack, get_pack, pack_in_force

__all__ = [
    "PACKS",
    "RULE_IDS",
    "WARN_DAYS",
    "Deadline",
    "Env",
    "FinnishCalendar",
    "Parameter",
    "RulePack",
    "Status",
    "evaluate",
    "evaluate_cases",
    "evaluate_others",
    "get_pack",
    "pack_in_force",
]
