"""The one-command demo: a synthetic provider, a local mailbox, one compliance check.

:func:`prepare_environment` must run before Prefect is imported: it points Prefect's
home and its own SQLite database into the work directory (separate from Vahti's
database) and forces the ephemeral API, so the demo never touches a real Prefect
server. Then :func:`run_demo`:

1. generates ``cases`` synthetic cases as of ``today`` and serves them with the
   reference provider on 127.0.0.1 (a fresh random token, in this process's
   environment only);
2. starts a loopback SMTP server writing every message into ``WORKDIR/mailbox``
   (a Maildir any mail reader opens);
3. writes ``WORKDIR/vahti.toml``: SQLite in the work directory, the provider, every
   coach of the dataset plus quality staff and operations as ``mailto://`` recipients
   in Finnish, Swedish and English;
4. runs the ``compliance-check`` flow once, then ``weekly-report`` (HTML under
   ``WORKDIR/reports``).

Send window: the demo's settings widen the window to the whole day (00:00-23:59) so
its alerts are not held back by the hour it runs at; on a weekend or public holiday
non-urgent alerts still wait for a working day (the real policy), urgent ones go out.
Ports change from run to run, so the SMTP port reaches the Apprise URLs through the
``VAHTI_DEMO_SMTP_PORT`` variable: recipients stay the same and a second run on the
same work directory sends no alert twice.
"""

from __future__ import annotations

import mailbox
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from core.errors import VahtiError
from models.provider_data import RejectedPayload
from reference.generator import Dataset, generate_dataset
from reference.generator_cases import CASE_LINK_ORIGIN
from reference.mail import MaildirSink
from reference.server import create_app
from reference.server_run import run_in_thread

TOKEN_ENV = "VAHTI_DEMO_TOKEN"  # noqa: S105 (the variable's name, not a token)
PORT_ENV = "VAHTI_DEMO_SMTP_PORT"
PROVIDER_ID = "demo"
INVALID_SHARE = 0.02
_LANGUAGES = ("fi", "sv", "en")

Step = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DemoResult:
    cases: int
    rejected: int
    deadlines: dict[str, int]
    sent: int  # alert items delivered
    failed: int  # alert items not delivered
    pending: int
    mailbox: str
    report: str
    messages_in_mailbox: int
    problems: tuple[str, ...]
    prefect_home: str
    messages_sent: int = 0  # messages (one email per recipient) carrying the items

    def to_json(self) -> dict[str, object]:
        """The contract of ``vahti demo --format json``."""
        return {
            "cases": self.cases,
            "rejected": self.rejected,
            "deadlines": self.deadlines,
            "alerts": {
                "items_sent": self.sent,
                "items_failed": self.failed,
                "messages_sent": self.messages_sent,
            },
            "mailbox": self.mailbox,
            "report": self.report,
        }


def prepare_environment(workdir: Path) -> Path:
    """Point Prefect at an ephemeral API with its own database under ``workdir``."""
    home = (workdir / ".prefect").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ.pop("PREFECT_API_URL", None)
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{home}/prefect.db"
    os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "true"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the progress display talks
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    return home


@contextmanager
def smtp_sink(maildir: Path) -> Iterator[int]:
    """The reference mail sink on loopback, delivering into ``maildir``; yields its port."""
    with MaildirSink(maildir, record=False) as sink:
        yield sink.port


def _mail_url(to: str) -> str:
    return (
        f"mailto://127.0.0.1:${{{PORT_ENV}}}?mode=insecure"
        f"&from=vahti-demo@example.invalid&to={to}@example.invalid"
    )


def write_config(workdir: Path, dataset: Dataset, base_url: str) -> Path:
    """The demo's vahti.toml (no secrets: the token and port come from the environment)."""
    lines = [
        "# Written by `vahti demo`; safe to read, rewritten on every demo run.",
        f'reports_dir = "{(workdir / "reports").resolve()}"',
        "",
        "[database]",
        f'url = "sqlite:///{(workdir / "vahti.db").resolve()}"',
        "",
        "[[providers]]",
        f'id = "{PROVIDER_ID}"',
        'name = "Demo provider (synthetic data)"',
        f'base_url = "{base_url}"',
        f'token_env = "{TOKEN_ENV}"',
        f'case_link_origins = ["{CASE_LINK_ORIGIN}"]  # the only origin case links may use',
        "",
        "[alerts]",
        'send_window_start = "00:00"  # the demo widens the window (see vahti/demo.py)',
        'send_window_end = "23:59"',
        "",
        "[[recipients.quality]]",
        'name = "quality-fi"',
        'language = "fi"',
        f'urls = ["{_mail_url("laatu")}"]',
        "",
        "[[recipients.quality]]",
        'name = "quality-sv"',
        'language = "sv"',
        f'urls = ["{_mail_url("kvalitet")}"]',
        "",
        "[[recipients.operations]]",
        'name = "operations"',
        'language = "en"',
        f'urls = ["{_mail_url("operations")}"]',
        "",
    ]
    for index, coach in enumerate(sorted(dataset.staff, key=lambda c: str(c["id"]))):
        coach_id = str(coach["id"])
        language = str(coach.get("language") or _LANGUAGES[index % 3])
        lines += [
            f'[recipients.coaches.{PROVIDER_ID}."{coach_id}"]',
            f'language = "{language}"',
            f'urls = ["{_mail_url("coach-" + coach_id.lower())}"]',
            "",
        ]
    path = workdir / "vahti.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def stored_rejected(config: str) -> int:
    """Rejected payloads kept for the demo provider (every run, not only this one)."""
    from pipeline.steps import open_engine, settings_from  # noqa: PLC0415

    with open_engine(settings_from(config)) as engine, engine.connect() as connection:
        query = select(func.count()).select_from(RejectedPayload)
        return int(connection.execute(query).scalar_one())


def run_demo(
    *,
    cases: int,
    seed: int,
    workdir: Path,
    today: date,
    now: datetime,
    step: Step,
) -> DemoResult:
    """Run the demo end to end; ``prepare_environment(workdir)`` must have run first."""
    from flows.compliance import compliance_check  # noqa: PLC0415 (after prepare_environment)
    from flows.outcome import run_data  # noqa: PLC0415
    from flows.reports import weekly_report  # noqa: PLC0415

    workdir = workdir.resolve()
    maildir = workdir / "mailbox"
    step(f"generating {cases} synthetic cases as of {today.isoformat()}")
    dataset = generate_dataset(
        cases=cases, seed=seed, today=today, provider_id=PROVIDER_ID, invalid_share=INVALID_SHARE
    )
    token = secrets.token_urlsafe(24)
    os.environ[TOKEN_ENV] = token
    step("starting the reference provider and the mail sink on 127.0.0.1")
    with run_in_thread(create_app(dataset, token=token)) as server, smtp_sink(maildir) as port:
        os.environ[PORT_ENV] = str(port)
        config = write_config(workdir, dataset, server.url)
        step("running compliance-check (Prefect ephemeral API; it takes a while to start)")
        state = compliance_check(
            config=str(config), today=today.isoformat(), now=now.isoformat(), return_state=True
        )
        outcome: Any = run_data(state)
        if outcome is None:
            raise VahtiError(f"compliance-check ended {state.name}: {state.message}")
        step("writing the weekly report")
        report: Any = weekly_report(config=str(config), today=today.isoformat())
    alerts = outcome.get("alerts") or {}
    return DemoResult(
        cases=len(dataset),
        rejected=stored_rejected(str(config)),
        deadlines=dict(outcome.get("deadlines") or {}),
        sent=int(alerts.get("sent", 0)),
        failed=int(alerts.get("failed", 0)),
        pending=int(alerts.get("pending", 0)),
        messages_sent=int(alerts.get("messages", 0)),
        mailbox=str(maildir),
        report=str(report["report"]),
        messages_in_mailbox=len(mailbox.Maildir(str(maildir), create=True)),
        problems=tuple(str(p) for p in outcome.get("problems") or ()),
        prefect_home=os.environ["PREFECT_HOME"],
    )
