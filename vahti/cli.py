"""The ``vahti`` command line: a thin shell over the packages, one module per area."""

from __future__ import annotations

import typer

from core.process import tune_collector
from vahti.commands import alerts, db, demo, evaluate, provider, sync

app = typer.Typer(
    name="vahti",
    help="Vahti: deadline compliance monitor for Kela work trial and job coaching.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (evaluate, provider, sync, db, alerts, demo):
    _module.register(app)


@app.callback()
def _start() -> None:
    """Vahti: deadline compliance monitor for Kela work trial and job coaching."""
    tune_collector()  # once, where the command's process starts its work
