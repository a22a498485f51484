"""Fixtures for the reusable-app tests: the wheel, a fresh virtual environment holding it.

``app_wheel`` builds the wheel from a copy of the files the distribution is made of (so the build
leaves nothing in the working tree) with ``python -m build --no-isolation`` (offline: the build
backend comes from requirements-dev.txt). ``host_venv`` is a new venv, without pip, whose only
packages are the wheel (``pip --python ... install --no-deps``) plus, through a .pth file, the
project's .venv site-packages for Django, slack_sdk and cryptography. The repository itself is
never on that venv's path: ``installations`` can only come from the wheel.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIST_FILES = ("pyproject.toml", "MANIFEST.in", "README.md", "CHANGELOG.md")


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


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
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)]
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="session")
def host_venv(tmp_path_factory: pytest.TempPathFactory, app_wheel: Path) -> Path:
    """The new venv's python, with the wheel installed."""
    root = tmp_path_factory.mktemp("host-venv")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
    python = root / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    site_dir = Path(site.stdout.strip())
    ours = sysconfig.get_path("purelib")  # the project's .venv: Django, slack_sdk, ...
    (site_dir / "zz_project_venv.pth").write_text(ours + "\n")
    installed = run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", str(app_wheel)]
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    return python
