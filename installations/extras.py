"""The optional parts of the app and the extra that installs each (docs/settings.md, "Extras").

A module that needs an extra imports it under ``needs_extra``: without it, one ImportError
names the extra to install.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# Each extra of pyproject.toml and the top-level modules it brings.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "bolt": ("slack_bolt",),
    "bolt-async": ("slack_bolt", "aiohttp"),
    "redis": ("redis",),
    "postgres": ("psycopg",),
}


def extra_bringing(module: str) -> str | None:
    """The smallest extra that brings top-level ``module`` (the first listed); None if none."""
    return next((extra for extra, brought in EXTRA_MODULES.items() if module in brought), None)


def missing_extra_message(extra: str, module: str) -> str:
    return (
        f"{module} is not installed: this part of django-slackinstall needs the [{extra}] extra "
        f'(pip install "django-slackinstall[{extra}]")'
    )


@contextmanager
def needs_extra(extra: str) -> Iterator[None]:
    """Turn a missing module of ``extra`` into an ImportError that names the extra."""
    try:
        yield
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in EXTRA_MODULES[extra]:
            raise
        raise ImportError(missing_extra_message(extra, top), name=exc.name) from exc
