"""Browser tests can never pass CI by being skipped: without Chromium they fail when CI is set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ONE_BROWSER_TEST = (
    "tests/install/test_e2e_install.py::test_cancel_on_slack_lands_on_the_cancelled_page"
)


def run_without_chromium(tmp_path: Path, *, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["CHROMIUM"] = str(tmp_path / "no-chromium-here")
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", ONE_BROWSER_TEST],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("ci", [True, False])
def test_missing_chromium_fails_in_ci_and_skips_locally(tmp_path: Path, ci: bool) -> None:
    result = run_without_chromium(tmp_path, ci=ci)
    if ci:
        assert result.returncode == 1, result.stdout
        assert "browser tests are mandatory in CI and cannot run: no Chromium at" in result.stdout
        assert "1 error" in result.stdout
    else:
        assert result.returncode == 0, result.stdout
        assert "1 skipped" in result.stdout and "set CI=1" in result.stdout
