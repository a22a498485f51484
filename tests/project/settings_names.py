"""The setting and environment-variable names the code reads, found in its source (AST).

What counts as a read: ``getattr(settings, "X", ...)`` and ``settings.X``; the app's readers
``setting("X")``, ``text_setting``, ``int_setting``, ``_setting``; the example project's
``cfg.<kind>("X")``, ``env.<kind>("X")``, ``_secret("X")``, ``_slack_url("X", ...)``;
``os.environ.get("X")``, ``os.environ["X"]`` and ``os.getenv("X")``. Django's own settings
(``django.conf.global_settings``) are Django's to document.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.conf import global_settings

NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")
SETTING_READERS = {"setting", "text_setting", "int_setting", "_setting"}
ENV_FUNCTIONS = {"_secret", "_slack_url"}
ENV_OBJECTS = {"cfg", "env"}
# Computed by settings.py for the code, never set by anyone.
COMPUTED = {"BASE_DIR", "CONFIGURATION_PROBLEMS"}


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def names_read(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(settings read, environment variables read) in one module."""
    settings: set[str] = set()
    environment: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "settings" and isinstance(node.ctx, ast.Load):
                settings.add(node.attr)
        elif isinstance(node, ast.Subscript) and _is_environ(node.value):
            environment.add(_text(node.slice) or "")
        elif isinstance(node, ast.Call) and node.args:
            func, first = node.func, _text(node.args[0])
            if isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) > 1:
                if isinstance(node.args[0], ast.Name) and node.args[0].id == "settings":
                    settings.add(_text(node.args[1]) or "")
            elif isinstance(func, ast.Name) and func.id in SETTING_READERS:
                settings.add(first or "")
            elif isinstance(func, ast.Name) and func.id in ENV_FUNCTIONS:
                environment.add(first or "")
            elif isinstance(func, ast.Attribute) and (
                (isinstance(func.value, ast.Name) and func.value.id in ENV_OBJECTS)
                or (func.attr == "get" and _is_environ(func.value))
                or (func.attr == "getenv" and isinstance(func.value, ast.Name))
            ):
                environment.add(first or "")
    return _ours(settings), _ours(environment)


def _ours(names: set[str]) -> set[str]:
    return {
        name
        for name in names
        if NAME.match(name) and name not in COMPUTED and not hasattr(global_settings, name)
    }


def names_read_under(*folders: Path) -> tuple[set[str], set[str]]:
    settings: set[str] = set()
    environment: set[str] = set()
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            if "migrations" in path.parts:
                continue
            found = names_read(ast.parse(path.read_text(), filename=str(path)))
            settings |= found[0]
            environment |= found[1]
    return settings, environment
