"""Start :mod:`tests.reliability.worker` processes and SIGKILL them at a chosen event."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from core.config import Settings
from tests.reliability.worker import PAUSE_ENV

RUN_TIMEOUT = 120.0  # seconds: a worker that hangs fails the test instead of CI


@dataclass(frozen=True)
class KillAt:
    """SIGKILL at the ``nth`` (1-based) event named in ``events``, ``delay`` seconds later."""

    events: frozenset[str]
    nth: int
    delay: float = 0.0


@dataclass
class WorkerRun:
    """How one worker process ended."""

    events: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)  # every stdout line
    killed_at: str | None = None  # the event after which it was killed
    done: dict[str, Any] | None = None
    returncode: int | None = None
    stderr: str = ""


def write_settings(settings: Settings, path: Path) -> Path:
    """The settings as the JSON file the worker reads, and as TOML beside it (for the flow)."""
    data = settings.model_dump(mode="json", exclude_none=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    path.with_suffix(".toml").write_text(to_toml(data), encoding="utf-8")
    return path


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer for the settings' shape (tables, arrays of tables, scalars)."""
    lines: list[str] = []
    nested: list[str] = []
    for key, value in data.items():
        name = f"{prefix}.{json.dumps(key)}" if prefix else json.dumps(key)
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            nested.append(to_toml(value, name))
        elif isinstance(value, dict):
            nested.append(f"[{name}]\n" + to_toml(value, name) if value else "")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            nested.extend(
                f"[[{name}]]\n"
                + "".join(f"{json.dumps(k)} = {_value(v)}\n" for k, v in item.items())
                for item in value
            )
        else:
            lines.append(f"{json.dumps(key)} = {_value(value)}")
    head = "\n".join(lines) + ("\n" if lines else "")
    return head + "".join(nested)


def _reader(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def start_worker(
    settings_file: Path, now: str, *, steps: str, env: dict[str, str]
) -> subprocess.Popen[str]:
    """A worker process with its stdout piped (line buffered)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.reliability.worker",
            str(settings_file),
            now,
            "--steps",
            steps,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        cwd=Path(__file__).resolve().parents[2],
        start_new_session=True,  # its own process group: a kill also takes its children
    )


def follow(process: subprocess.Popen[str], kill: KillAt | None = None) -> WorkerRun:
    """Read the worker's events until it ends; SIGKILL it at ``kill`` if that event comes."""
    assert process.stdout is not None
    assert process.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(process.stdout, lines), daemon=True).start()
    errors: list[str] = []
    err_thread = threading.Thread(
        target=lambda: errors.append(process.stderr.read() if process.stderr else ""), daemon=True
    )
    err_thread.start()
    run = WorkerRun()
    seen = 0
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
        except queue.Empty:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"worker hung: events so far {run.events[-5:]}") from None
        if line is None:
            break
        run.output.append(line)
        if line.startswith("DONE "):
            run.done = json.loads(line[5:])
            continue
        if not line.startswith("EVENT "):
            continue
        name = line.split()[1]
        run.events.append(name)
        if kill is not None and run.killed_at is None and name in kill.events:
            seen += 1
            if seen == kill.nth:
                if kill.delay:
                    time.sleep(kill.delay)
                os.killpg(process.pid, signal.SIGKILL)  # the worker and e.g. Prefect's server
                run.killed_at = name
    run.returncode = process.wait(timeout=RUN_TIMEOUT)
    with contextlib.suppress(ProcessLookupError):  # children left by a clean exit, if any
        os.killpg(process.pid, signal.SIGKILL)
    err_thread.join(timeout=5)
    process.stdout.close()
    process.stderr.close()
    run.stderr = "".join(errors)
    if run.killed_at is not None and run.returncode != -signal.SIGKILL:
        run.killed_at = None  # it finished before the signal arrived
    return run


def run_worker(
    settings_file: Path, now: str, *, steps: str, env: dict[str, str], kill: KillAt | None = None
) -> WorkerRun:
    """Start a worker, follow it to its end (or its kill) and return what happened.

    The worker pauses briefly after each event of the kind aimed at, so the signal lands
    in that event's window (e.g. after the SMTP server accepted, before the ledger knows).
    """
    if kill is not None:
        name = min(kill.events)
        env = {**env, PAUSE_ENV: f"{name}:{kill.delay + 0.3}"}
    return follow(start_worker(settings_file, now, steps=steps, env=env), kill)
