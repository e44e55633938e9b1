#!/usr/bin/env python3
"""Set up Vahti's virtual environment from the lock file, then run a task.

    python3 dev.py demo     # the main job on the embedded default
    python3 dev.py test     # ruff, mypy, the import layers and the whole test suite
    python3 dev.py quick    # the edit-test loop: the same checks, the tests not marked slow
    python3 dev.py bench    # the benchmarks (see bench/README.md)

Needs only Python 3.11: uv is installed into `.cache/uv` and builds `.venv` from uv.lock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
UV_VERSION = "0.13.8"
UV_HOME = ROOT / ".cache" / "uv"
VENV = ROOT / ".venv"
SOURCES = (
    "core", "contract", "rules", "models", "providers", "notifications", "reference", "pipeline",
    "flows", "vahti", "deployments",
)  # fmt: skip


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def setup() -> None:
    uv = UV_HOME / "bin" / "uv"
    if not uv.exists():
        venv.create(UV_HOME, with_pip=True)
        run(UV_HOME / "bin" / "python", "-m", "pip", "install", "-q", f"uv=={UV_VERSION}")
    # Bytecode is compiled here, once: where PYTHONDONTWRITEBYTECODE is set, every
    # process would otherwise compile each module it imports (seconds per flow process).
    run(uv, "sync", "--frozen", "--quiet", "--compile-bytecode", "--python", sys.executable)
    run(VENV / "bin" / "python", "-m", "compileall", "-q", "-j", "0", *SOURCES, "bench", "tests")


def main() -> None:
    task, *rest = sys.argv[1:] or ["help"]
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"dev.py: Python 3.11 is required, this is {sys.version.split()[0]}")
    if task not in {"setup", "demo", "test", "quick", "bench"}:
        sys.exit(__doc__)
    setup()
    bin_ = VENV / "bin"
    env = dict(os.environ)
    if task == "demo":
        run(bin_ / "vahti", "demo", *rest, env=env)
    elif task in {"test", "quick"}:
        run(bin_ / "ruff", "format", "--check", ".")
        run(bin_ / "ruff", "check", ".")
        run(bin_ / "mypy")
        run(bin_ / "lint-imports", "--no-cache")
        quick = ["-m", "not slow"] if task == "quick" else []
        run(bin_ / "pytest", *quick, *rest, env=env)
    elif task == "bench":
        run(bin_ / "python", "-m", "bench", *rest, env=env)


if __name__ == "__main__":
    main()
