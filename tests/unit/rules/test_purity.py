"""The engine is pure: importing every rules module loads no I/O or orchestration library."""

from __future__ import annotations

import gc
import pkgutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import rules
from contract.validate import validate_cases
from tests.unit.rules.builders import raw_case

FORBIDDEN = ("prefect", "sqlmodel", "sqlalchemy", "httpx", "apprise")


def test_rules_imports_no_io_libraries() -> None:
    """A fresh interpreter importing all rules modules has none of the forbidden packages."""
    modules = [f"rules.{m.name}" for m in pkgutil.iter_modules(rules.__path__)]
    assert "rules.engine" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_engine_reads_no_clock() -> None:
    """No module of the engine calls date.today() or datetime.now()."""
    for info in pkgutil.iter_modules(rules.__path__):
        text = (Path(rules.__path__[0]) / f"{info.name}.py").read_text(encoding="utf-8")
        assert "today()" not in text, info.name
        assert ".now(" not in text, info.name


def test_engine_leaves_the_collector_alone() -> None:
    """Validating and evaluating change no process-wide collector setting (the shells do)."""
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, before[1], before[2])
        cases, _ = validate_cases([raw_case()])
        rules.evaluate(cases, [], [], None, date(2026, 3, 10), rules.FinnishCalendar())
        assert gc.isenabled()
        assert gc.get_threshold() == (700, before[1], before[2])
    finally:
        gc.set_threshold(*before)
