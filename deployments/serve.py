"""Serve every Vahti flow on one machine with its schedule: ``python -m deployments.serve``.

    python -m deployments.serve --config /etc/vahti/vahti.toml

Needs a Prefect API (``prefect server start`` or ``PREFECT_API_URL``). Every scheduled
deployment has a concurrency limit of 1 (runs never overlap), schedules are Europe/Helsinki, and
stopping the process does not pause the schedules (``pause_on_shutdown=False``): after
a restart the same schedules continue. The ad-hoc deployment has no schedule; start it
from the UI or ``prefect deployment run adhoc-check/adhoc -p provider=ID``.
"""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path
from typing import Any

from deployments.schedules import DEPLOYMENTS, TIMEZONE, DeploymentSpec

EXTRA_LOGGERS = "vahti,providers,models,notifications,flows"


def _flow(spec: DeploymentSpec) -> Any:
    module, name = spec.flow.split(":")
    return getattr(importlib.import_module(module), name)


def build(config: str) -> list[Any]:
    """The runner deployments for ``config`` (an absolute path is recommended)."""
    from prefect.client.schemas.schedules import CronSchedule  # noqa: PLC0415

    deployments = []
    for spec in DEPLOYMENTS:
        schedules = [CronSchedule(cron=spec.cron, timezone=TIMEZONE)] if spec.cron else None
        deployments.append(
            _flow(spec).to_deployment(
                name=spec.name,
                schedules=schedules,
                concurrency_limit=spec.concurrency_limit,
                parameters={"config": config, **spec.parameters},
                description=spec.description,
                tags=["vahti"],
            )
        )
    return deployments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployments.serve", description=__doc__)
    parser.add_argument("--config", default="vahti.toml", help="Vahti settings file")
    parser.add_argument("--limit", type=int, default=None, help="max concurrent flow runs")
    args = parser.parse_args(argv)
    config = str(Path(args.config).resolve())
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", EXTRA_LOGGERS)
    from prefect import serve  # noqa: PLC0415 (after the logging environment is set)

    serve(*build(config), pause_on_shutdown=False, limit=args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
