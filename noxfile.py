"""CI's test matrix (``.ci/run`` calls ``nox``; ``make test`` stays the everyday run).

- ``dev``: the suite as ``make test`` runs it, in the development venv (Python 3.11, the pinned
  Django 5.2): SQLite, then PostgreSQL when DATABASE_URL is set (browser tests included).
- ``django61``: lint, checks and the suite on Python 3.13 with Django 6.1 (the pinned
  requirements otherwise, django-stubs for 6.1): SQLite, then PostgreSQL when DATABASE_URL is
  set. Browser and multi-instance tests stay in ``dev``; ``tests/reusable`` in ``wheel``.
- ``wheel``: tests/reusable/test_reusable_packaging.py once per supported (Python, Django)
  pair: the wheel installed from an index into clean venvs of that Python, Django pinned.

Django 6 needs Python 3.12 or later, so the supported pairs are Django 5.2 on 3.11, 3.12 and
3.13, Django 6.0 and 6.1 on 3.12 and 3.13 (pyproject.toml says the same).
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["dev", "django61", "wheel"]
nox.options.error_on_missing_interpreters = True

REPO = Path(__file__).resolve().parent
DEV_PYTHON = str(REPO / ".venv" / "bin" / "python")
DJANGO_SERIES = {"5.2": "Django>=5.2,<5.3", "6.0": "Django>=6.0,<6.1", "6.1": "Django>=6.1,<6.2"}
SUPPORTED = [
    ("3.11", "5.2"),
    ("3.12", "5.2"),
    ("3.12", "6.0"),
    ("3.12", "6.1"),
    ("3.13", "5.2"),
    ("3.13", "6.0"),
    ("3.13", "6.1"),
]
# The suite's tests the django61 session leaves to the others.
NOT_IN_DJANGO61 = ["-m", "not browser and not multi_instance", "--ignore", "tests/reusable"]


def interpreter(version: str) -> str:
    """The python of that version: pyenv's build, else one on PATH."""
    for found in sorted(glob.glob(f"/root/.pyenv/versions/{version}.*/bin/python")):
        return found
    on_path = shutil.which(f"python{version}")
    if on_path is None:
        raise RuntimeError(f"no Python {version}: install it (pyenv install {version})")
    return on_path


def databases() -> list[dict[str, str]]:
    """SQLite always; PostgreSQL too when DATABASE_URL names one (.ci/run starts it)."""
    runs = [{"DATABASE_URL": ""}]
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        runs.append({"DATABASE_URL": os.environ["DATABASE_URL"]})
    return runs


@nox.session(venv_backend="none")
def dev(session: nox.Session) -> None:
    # The wheel-in-a-host test runs once per supported pair in ``wheel``, 3.11 with 5.2 included.
    skip = {"PYTEST_ARGS": "--deselect tests/reusable/test_reusable_packaging.py"}
    for env in databases():
        session.run("make", "test", external=True, env={**env, **skip})


@nox.session(python=interpreter("3.13"))
def django61(session: nox.Session) -> None:
    pinned = [
        line
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if not line.startswith("Django==")
    ]
    requirements = Path(session.create_tmp()) / "requirements-django61.txt"
    requirements.write_text("\n".join(pinned) + "\n")
    dev_only = [
        line
        for line in (REPO / "requirements-dev.txt").read_text().splitlines()
        if not line.startswith(("-r ", "django-stubs=="))
    ]
    dev_requirements = Path(session.create_tmp()) / "requirements-dev-django61.txt"
    dev_requirements.write_text("\n".join(dev_only) + "\n")
    session.install("-r", str(requirements), "-r", str(dev_requirements),
                    DJANGO_SERIES["6.1"], "django-stubs==6.1.2")  # fmt: skip
    debug = {"DJANGO_DEBUG": "true"}
    session.run("mypy", "installations", "slackinstall", "slackstandin", env=debug)
    session.run("python", "manage.py", "check", env=debug)
    session.run("python", "manage.py", "makemigrations", "--check", "--dry-run", env=debug)
    for env in databases():
        session.run("python", "-m", "pytest", *NOT_IN_DJANGO61, *session.posargs, env=env)


@nox.session(venv_backend="none")
@nox.parametrize(("python_version", "django"), SUPPORTED, ids=[f"{p}-{d}" for p, d in SUPPORTED])
def wheel(session: nox.Session, python_version: str, django: str) -> None:
    session.run(
        DEV_PYTHON, "-m", "pytest", "tests/reusable/test_reusable_packaging.py", "-p",
        "no:cacheprovider", *session.posargs,
        external=True,
        env={
            "HOST_PYTHON": interpreter(python_version),
            "HOST_DJANGO": DJANGO_SERIES[django],
            "HOST_DJANGO_VERSION_PREFIX": django + ".",
        },
    )  # fmt: skip
