"""A fresh copy of the project, as a new user's clone, for tests of setup and release steps.

The copy has no .env, no .dev-secrets.json, no database and no .standin/ (so nothing on this
machine leaks in, and nothing the tests write lands in the working tree); it shares this
checkout's .venv, and ``make`` never reinstalls it (the stamp is marked old, ``-o``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
COPIED_FILES = ("manage.py", "gunicorn.conf.py", "Makefile", ".env.example", "pyproject.toml")
COPIED_DIRS = (
    "slackinstall",
    "installations",
    "slackstandin",
    "example_app",
    "templates",
    "static",
)
# Variables the tests decide themselves: nothing from the developer's shell or the test run.
OWN_PREFIXES = ("DJANGO_", "SLACK_", "TOKEN_ENCRYPTION_", "DATABASE_URL", "PORT", "HOST")
OWN_NAMES = ("WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_TIMEOUT")


def copy_project(destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    for name in COPIED_FILES:
        shutil.copy2(ROOT / name, destination / name)
    for name in COPIED_DIRS:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, destination / name, ignore=shutil.ignore_patterns("__pycache__")
            )
    return destination


def clean_env(**values: str) -> dict[str, str]:
    """The environment of a shell that never configured slackinstall, plus ``values``.

    The site's and the stand-in's ports are free ones of the test's own (unless ``values`` name
    them): their defaults, 8000 and 8001, belong to the developer's ``make run``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(OWN_PREFIXES) and name not in OWN_NAMES
    }
    env.update(PORT=str(free_port()), SLACK_STANDIN_PORT=str(free_port()))
    env.update(values)
    return env


def manage(
    project: Path, env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def make_command(project: Path, target: str) -> list[str]:
    """``make <target>`` in the copy, with this checkout's .venv, never reinstalling it (``-o``:
    make takes both install stamps as up to date)."""
    return [
        "make",
        "--no-print-directory",
        "-C",
        str(project),
        f"VENV={VENV}",
        "-o",
        str(VENV / ".installed"),  # the full toolchain (make run, make test)
        "-o",
        str(VENV / ".runtime"),  # the runtime only (make env, migrate, serve)
        target,
    ]


def make(
    project: Path, env: dict[str, str], target: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        make_command(project, target),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
