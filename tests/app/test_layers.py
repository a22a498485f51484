"""The app's layers hold, as docs/architecture.md describes them and ``lint-imports`` checks them.

The contracts live in pyproject.toml ([tool.importlinter]); this runs the real tool over the real
tree, checks that the architecture document names every package the contracts place, and that
Sign in with Slack, an app of its own, is asked for by name when it is switched on without it.
"""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from django.core import checks

import installations
from installations.checks import check_signin_app

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return found


def layered_packages() -> set[str]:
    (layers,) = [c for c in contracts() if c["type"] == "layers"]
    return {name.strip() for layer in layers["layers"] for name in layer.split("|")}


def test_every_import_keeps_the_layers_and_the_forbidden_imports() -> None:
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert f"Contracts: {len(contracts())} kept, 0 broken." in done.stdout


def test_the_layers_place_every_package_and_module_of_the_app() -> None:
    children = {m.name for m in pkgutil.iter_modules(installations.__path__)}
    assert layered_packages() == children


def test_the_architecture_document_names_every_package_the_layers_place() -> None:
    document = (ROOT / "docs" / "architecture.md").read_text()
    layers_table = document[document.index("## Layers") :]
    tree = document[document.index("## Packages") : document.index("## Layers")]
    for name in layered_packages():
        assert f"`{name}`" in layers_table, name
        assert re.search(rf"[ ─]{re.escape(name)}(\.py|/)", tree), name


def test_signin_switched_on_without_its_app_is_a_check_error(settings: Any) -> None:
    settings.SLACK_SIGNIN_ENABLED = True
    assert check_signin_app() == []  # this project lists installations.signin
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "installations.signin"]
    found = check_signin_app()
    assert [m.id for m in found] == ["installations.E015"] and found[0].level == checks.ERROR
    settings.SLACK_SIGNIN_ENABLED = False
    assert check_signin_app() == []
