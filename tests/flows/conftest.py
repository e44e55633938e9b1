"""Flow tests: one Prefect test harness for them all, real provider, SQLite and SMTP.

Prefect's home and database live in a temporary directory; the harness (a temporary
Prefect API on SQLite) starts once for these tests because each start costs seconds.
Every test gets its own Vahti database, mailbox and providers.
"""

from __future__ import annotations

import mailbox
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from prefect.settings import PREFECT_HOME, temporary_settings
from prefect.testing.utilities import prefect_test_harness

from reference.generator import generate_dataset
from reference.server import create_app
from reference.server_run import RunningServer, run_in_thread
from vahti.demo import PORT_ENV, smtp_sink

TODAY = date(2026, 3, 10)  # a Tuesday: working day
NOW = "2026-03-10T10:00:00+02:00"  # inside the default 08-16 send window
TOKEN = "flow-test-token-5f1c"


@pytest.fixture(scope="package", autouse=True)
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A temporary Prefect API and home for the flow tests (stopped after them: its
    background threads must not run on under the property tests that follow)."""
    home = tmp_path_factory.mktemp("prefect-home")
    with (
        temporary_settings({PREFECT_HOME: str(home)}),
        prefect_test_harness(server_startup_timeout=60),
    ):
        yield


@dataclass
class Site:
    """A Vahti installation for one test: config file, database, mailbox."""

    root: Path
    config: Path
    database_url: str
    maildir: Path

    def messages(self) -> list[mailbox.MaildirMessage]:
        return list(mailbox.Maildir(str(self.maildir), create=True))


@pytest.fixture(scope="session")
def reference_provider() -> Iterator[RunningServer]:
    """The reference provider serving two synthetic providers on 127.0.0.1."""
    datasets = {
        pid: generate_dataset(cases=80, seed=seed, today=TODAY, provider_id=pid, invalid_share=0.05)
        for pid, seed in (("alpha", 1), ("beta", 2))
    }
    with run_in_thread(create_app(datasets, token=TOKEN)) as server:
        yield server


@pytest.fixture
def make_site(
    tmp_path: Path, reference_provider: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Site]]:
    """Build a site: providers (id -> token env value or None for a bad token), recipients."""
    maildir = tmp_path / "mailbox"
    monkeypatch.setenv("FLOW_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("FLOW_TEST_BAD_TOKEN", "not-the-right-token")
    with smtp_sink(maildir) as port:
        monkeypatch.setenv(PORT_ENV, str(port))

        def build(
            providers: dict[str, str] | None = None,
            database_url: str | None = None,
            *,
            base_url: str | None = None,
            retry_delays: list[float] | None = None,
        ) -> Site:
            """``base_url``: another provider server than the session's (its path then
            ends with the provider id); ``retry_delays``: the check's retry delays."""
            chosen = providers or {"alpha": "FLOW_TEST_TOKEN"}
            db = database_url or f"sqlite:///{tmp_path / 'vahti.db'}"
            mail = f"mailto://127.0.0.1:${{{PORT_ENV}}}?mode=insecure&from=v@example.invalid"
            lines = [f'reports_dir = "{tmp_path / "reports"}"', "[database]", f'url = "{db}"']
            if retry_delays is not None:
                lines += ["[flows]", f"check_retry_delays = {retry_delays!r}"]
            for pid, env in chosen.items():
                lines += [
                    "[[providers]]",
                    f'id = "{pid}"',
                    f'base_url = "{base_url or reference_provider.url}/{pid}"',
                    f'token_env = "{env}"',
                    "max_attempts = 1",
                ]
            lines += [
                "[[recipients.quality]]",
                'name = "quality"',
                'language = "fi"',
                f'urls = ["{mail}&to=quality@example.invalid"]',
                "[[recipients.operations]]",
                'name = "ops"',
                'language = "en"',
                f'urls = ["{mail}&to=ops@example.invalid"]',
            ]
            config = tmp_path / "vahti.toml"
            config.write_text("\n".join(lines) + "\n", encoding="utf-8")
            return Site(root=tmp_path, config=config, database_url=db, maildir=maildir)

        yield build
    assert os.environ.get(PORT_ENV) is not None
