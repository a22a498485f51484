"""Product code uses the public API of slack_sdk, Bolt and Django only: no class overrides a
private (``_``-prefixed) method of theirs, and no code sets one of their private attributes on
an object (as ``app._oauth_flow = None`` on a Bolt App would).

Enum's own ``_name_``-style members (Django's TextChoices) are Python's, not a library's."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import django
import slack_bolt
import slack_sdk

import installations

LIBRARIES = ("slack_sdk", "slack_bolt", "django")
PRODUCT = Path(installations.__file__).parent


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("_")


def product_modules() -> list[str]:
    found = pkgutil.walk_packages(installations.__path__, "installations.")
    return sorted(info.name for info in found if "migrations" not in info.name)


def private_overrides() -> list[str]:
    overrides = []
    for name in product_modules():
        module = importlib.import_module(name)
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != name:
                continue
            for attr in [a for a in vars(cls) if is_private(a)]:
                for base in cls.__mro__[1:]:
                    if base.__module__.split(".")[0] in LIBRARIES and attr in vars(base):
                        overrides.append(f"{name}.{cls.__name__}.{attr} ({base.__module__})")
    return overrides


def private_attributes_set(root: Path, *, on_others_only: bool) -> dict[str, str]:
    """Each private attribute code under ``root`` sets (``x._name = ...``), and where; with
    ``on_others_only``, not counting an object's own (``self._name``, ``cls._name``)."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
            if not (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and is_private(node.attr)
            ):
                continue
            owner = node.value
            if on_others_only and isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            found.setdefault(node.attr, f"{path.relative_to(root)}:{node.lineno}")
    return found


def library_private_attributes_set_here() -> list[str]:
    ours = private_attributes_set(PRODUCT, on_others_only=True)
    theirs: set[str] = set()
    for library in (slack_sdk, slack_bolt, django):
        assert library.__file__ is not None
        root = Path(library.__file__).parent
        theirs.update(private_attributes_set(root, on_others_only=False))
    return sorted(f"{where} .{name}" for name, where in ours.items() if name in theirs)


def test_no_private_method_of_a_library_is_overridden() -> None:
    assert private_overrides() == []


def test_no_private_attribute_is_set_on_a_library_object() -> None:
    assert library_private_attributes_set_here() == []
