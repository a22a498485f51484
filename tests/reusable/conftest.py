"""Fixtures for the reusable-app tests: the wheel, and clean venvs that install it as users do.

``app_wheel`` builds the wheel from a copy of the files the distribution is made of (so the build
leaves nothing in the working tree) with ``python -m build --no-isolation`` (offline: the build
backend comes from requirements-dev.txt).

``host_venv(extras)`` is a new venv of ``HOST_PYTHON`` (default: this Python) into which pip
installs ``django-slackinstall[extras]`` the way a user does: our wheel from a folder holding
only it (``--find-links``), every dependency from the package index, only what the wheel
declares. ``HOST_DJANGO`` (e.g. ``Django>=6.1,<6.2``) pins the Django of that install; unset,
pip takes the newest the wheel allows on that Python. The repository is never on such a venv's
path: ``installations`` can only come from the wheel. noxfile.py runs these tests once per
supported (Python, Django) pair.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIST_FILES = ("pyproject.toml", "MANIFEST.in", "README.md", "CHANGELOG.md")
PIP_TIMEOUT_SECONDS = 900


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    timeout = kwargs.pop("timeout", 300)
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def host_python() -> str:
    """The interpreter the host venvs are made from (noxfile.py sets it per Python version)."""
    return os.environ.get("HOST_PYTHON") or sys.executable


@pytest.fixture(scope="session")
def app_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("dist-source")
    for name in DIST_FILES:
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "installations",
        source / "installations",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    out = tmp_path_factory.mktemp("dist")
    built = run(
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(out),
         str(source)]
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="session")
def host_venv(tmp_path_factory: pytest.TempPathFactory, app_wheel: Path) -> Callable[[str], Path]:
    """host_venv("bolt") -> the python of a clean venv holding django-slackinstall[bolt]
    (``""``: the base install). One venv per set of extras per test session."""
    made: dict[str, Path] = {}

    def make(extras: str) -> Path:
        if extras in made:
            return made[extras]
        root = tmp_path_factory.mktemp(f"host-venv-{extras or 'base'}")
        created = run([host_python(), "-m", "venv", str(root)])
        assert created.returncode == 0, created.stderr[-3000:]
        python = root / "bin" / "python"
        requirement = "django-slackinstall" + (f"[{extras}]" if extras else "")
        pins = [os.environ["HOST_DJANGO"]] if os.environ.get("HOST_DJANGO") else []
        installed = run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--find-links", str(app_wheel.parent), f"{requirement}=={version_of(app_wheel)}",
             *pins],
            timeout=PIP_TIMEOUT_SECONDS,
        )  # fmt: skip
        assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
        made[extras] = python
        return python

    return make


def version_of(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def installed_names(python: Path) -> set[str]:
    """The distributions installed in a venv, lower-cased with ``-`` for ``_``."""
    listed = run(
        [str(python), "-c",
         "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] for d in "
         "m.distributions()))"]
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    return {name.strip().lower().replace("_", "-") for name in listed.stdout.split()}
