"""Reading settings from the environment while collecting every problem instead of raising.

settings.py used to raise ImproperlyConfigured at the first missing or malformed variable, so an
operator fixed one variable per run, and commands that need no configuration at all
(``slack_init``, ``slack_keygen``, ``--help``) could not even start. ``ConfigReader`` returns a
usable placeholder for every bad value and records a one-line problem naming the variable (never
its value: it may be a secret). ``slackinstall/startup.py`` refuses to serve while any problem is
recorded and prints them all at once.

Empty values count as unset (``SLACK_CLIENT_ID=`` in a .env file means "still to fill"), values
are stripped of surrounding whitespace (a mounted ``*_FILE`` secret usually ends with a newline),
and a value holding `` #`` is refused: django-environ reads ``X=1 # note`` as the value
``1 # note``, which silently turned comments in a copied .env into secrets and app ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = ("true", "on", "yes", "y", "1")
FALSE_WORDS = ("false", "off", "no", "n", "0")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_INLINE_COMMENT = re.compile(r"\s#")


class ConfigReader:
    """Typed reads of environment variables; problems collected in ``problems``."""

    def __init__(self, env: environ.Env, *, debug_hint: str = "") -> None:
        self.env = env
        self.problems: list[str] = []
        self.debug_hint = debug_hint
        self._unreadable: set[str] = set()  # already reported: no second "not set" line

    def problem(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)

    # --- raw text -------------------------------------------------------------------------------
    def text(self, name: str, default: str = "") -> str:
        """The stripped value, or ``default`` when unset, empty or unreadable."""
        try:
            raw = self.env.str(name, default="")
        except OSError as exc:  # NAME_FILE points at a file that cannot be read
            self._unreadable.add(name)
            self.problem(f"{name}_FILE cannot be read ({exc.strerror or type(exc).__name__})")
            return default
        except (ImproperlyConfigured, ValueError):
            # django-environ reads a leading '$' as a reference to another variable.
            self._unreadable.add(name)
            self.problem(
                f"{name} could not be read (a value starting with '$' refers to another "
                "variable in django-environ: quote or change it)"
            )
            return default
        value = raw.strip()
        if _INLINE_COMMENT.search(value):
            self._unreadable.add(name)
            self.problem(
                f"{name} holds what looks like a comment (' #...'): in a .env file, put comments "
                "on their own line"
            )
            return default
        return value or default

    def is_set(self, name: str) -> bool:
        return bool(self.text(name))

    def required(self, name: str, *, placeholder: str = "") -> str:
        """A value that must be set; records "not set" and returns the placeholder otherwise."""
        value = self.text(name)
        if not value and name not in self._unreadable:
            self.problem(f"{name} is not set{self.debug_hint}")
            return placeholder
        return value

    # --- typed --------------------------------------------------------------------------------
    def boolean(self, name: str, default: bool) -> bool:
        value = self.text(name).lower()
        if not value:
            return default
        if value in TRUE_WORDS:
            return True
        if value in FALSE_WORDS:
            return False
        self.problem(f"{name} must be true or false")
        return default

    def integer(self, name: str, default: int, *, minimum: int | None = 0) -> int:
        value = self.text(name)
        if not value:
            return default
        try:
            number = int(value)
        except ValueError:
            self.problem(f"{name} must be a whole number")
            return default
        if minimum is not None and number < minimum:
            self.problem(f"{name} must be at least {minimum}")
            return default
        return number

    def port(self, name: str, default: int) -> int:
        number = self.integer(name, default, minimum=1)
        if number > 65535:
            self.problem(f"{name} must be a TCP port (1-65535)")
            return default
        return number

    def words(self, name: str, default: list[str]) -> list[str]:
        """A comma-separated list without blanks; ``default`` when unset."""
        value = self.text(name)
        if not value:
            return list(default)
        return [part.strip() for part in value.split(",") if part.strip()]

    def parsed(self, name: str, value: str, parse: Callable[[str], Any], placeholder: Any) -> Any:
        """``parse(value)``, or the placeholder with the parser's message as the problem."""
        try:
            return parse(value)
        except (ValueError, ImproperlyConfigured, KeyError) as exc:
            message = str(exc) or f"{name} is malformed"
            self.problem(message if name in message else f"{name}: {message}")
            return placeholder


def is_loopback_url(url: str) -> bool:
    """True for http(s) URLs on this machine (the stand-in, a test double)."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_HOSTS
