"""One object for the app's settings; nothing else in the app reads Django settings for Slack.

Typed, parsed values (scopes as tuples) cached until a setting changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.templatetags.static import static


def parse_scopes(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Comma-separated scopes (Slack's format) as a tuple without blanks or repeats, order kept."""
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else value
    scopes = (part.strip() for part in parts)
    return tuple(dict.fromkeys(scope for scope in scopes if scope))


# Slack's scope names: lower-case words joined by ".", ":", "_" or "-" (chat:write.public,
# incoming-webhook). Never a space: Slack separates scopes with commas.
SCOPE_NAME = re.compile(r"[a-z][a-z0-9._:-]*")
SCOPE_SETTINGS = ("SLACK_SCOPES", "SLACK_USER_SCOPES")


def scopes_problem(name: str, value: object) -> str | None:
    """Why ``value`` of scope setting ``name`` is not scope names Slack can be asked for (a
    comma-separated string or a list of strings); None when it is. Slack would answer an
    authorize URL holding anything else with an error page, so installs are refused instead."""
    if value is None:
        return None
    if isinstance(value, str):
        parts: list[object] = list(value.split(","))
    elif isinstance(value, list | tuple | set | frozenset):
        parts = list(value)
    else:
        kind = type(value).__name__
        return f"{name} must be comma-separated scope names or a list of them, not {kind}"
    for part in parts:
        if not isinstance(part, str):
            return f"{name} must list scope names as text, not {type(part).__name__}"
        scope = part.strip()
        if scope and not SCOPE_NAME.fullmatch(scope):
            return (
                f"{name} holds {scope[:40]!r}, which is not a Slack scope name: separate scopes "
                "with commas, e.g. commands,chat:write"
            )
    return None


@dataclass(frozen=True)
class SlackConfig:
    client_id: str
    app_id: str
    client_secret: str
    signing_secret: str
    scopes: tuple[str, ...]
    user_scopes: tuple[str, ...]
    redirect_uri: str
    api_url: str
    authorize_url: str
    state_ttl_seconds: int
    http_timeout_seconds: int
    token_rotation_minutes: int
    pkce: bool = False  # SLACK_PKCE: send a PKCE challenge and verifier (install/pkce.py)
    unusable: tuple[str, ...] = ()  # settings whose value cannot be used (scopes_problem)

    def __repr__(self) -> str:  # secrets stay out of debug pages and logs
        return f"SlackConfig(client_id={self.client_id!r}, api_url={self.api_url!r})"

    @property
    def is_configured(self) -> bool:
        return not self.missing_variables

    @property
    def missing_variables(self) -> list[str]:
        """Which variables an operator still has to set, or fix, before installs can work."""
        pairs = {
            "SLACK_CLIENT_ID": self.client_id,
            "SLACK_CLIENT_SECRET": self.client_secret,
            "SLACK_REDIRECT_URI": self.redirect_uri,
        }
        return [name for name, value in pairs.items() if not value] + list(self.unusable)


# The app's settings and their defaults (docs/settings.md): a missing one is a system check
# error (checks.py), never an AttributeError; required ones default to "".
DEFAULTS: dict[str, object] = {
    "SLACK_CLIENT_ID": "",
    "SLACK_CLIENT_SECRET": "",
    "SLACK_SIGNING_SECRET": "",
    "SLACK_REDIRECT_URI": "",
    "TOKEN_ENCRYPTION_KEYS": "",
    # Which key of TOKEN_ENCRYPTION_KEYS encrypts; "" is the first entry.
    "TOKEN_ENCRYPTION_ACTIVE_KEY_ID": "",
    "SLACK_APP_ID": "",
    "SLACK_SCOPES": "commands,chat:write",
    "SLACK_USER_SCOPES": "",
    "SLACK_API_URL": "https://slack.com/api/",
    "SLACK_AUTHORIZE_URL": "https://slack.com/oauth/v2/authorize",
    "SLACK_STATE_TTL_SECONDS": 600,
    "SLACK_HTTP_TIMEOUT_SECONDS": 10,
    "SLACK_TOKEN_ROTATION_MINUTES": 120,
    # PKCE on installs: only for an app whose PKCE switch is on at Slack (slack-protocol.md §1).
    "SLACK_PKCE": False,
    # Dotted path to the developer's Bolt App / AsyncApp or a factory of one ("": none).
    "SLACK_BOLT_APP": "",
    # Dotted path to a callable(request) -> dict whose result is stored on the Installation.
    "SLACK_INSTALL_CUSTOM_VALUES": "",
    # Days of history slack_purge_history keeps (retention_days); None keeps everything.
    "SLACK_RETENTION_DAYS": None,
}
REQUIRED_SETTINGS = (
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "SLACK_SIGNING_SECRET",
    "SLACK_REDIRECT_URI",
    "TOKEN_ENCRYPTION_KEYS",
)


def setting(name: str) -> object:
    """The host's value of one of the app's settings (None counts as unset), or its default: the
    only getattr(settings, ...) for the app's own settings."""
    value = getattr(settings, name, None)
    return DEFAULTS[name] if value is None else value


def text_setting(name: str) -> str:
    return str(setting(name) or "")


# The whole-number settings and the values that make sense for them (inclusive).
NUMBER_RANGES: dict[str, tuple[int, int]] = {
    "SLACK_STATE_TTL_SECONDS": (1, 86_400),  # an install that takes a day is no install
    "SLACK_HTTP_TIMEOUT_SECONDS": (1, 300),
    "SLACK_TOKEN_ROTATION_MINUTES": (1, 1_440),  # Slack's rotating tokens last 12 hours
}


def number_problem(name: str) -> str | None:
    """Why the host's value of whole-number setting ``name`` cannot be used; None when it can."""
    value = setting(name)
    low, high = NUMBER_RANGES[name]
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if type(value) is int and low <= value <= high:
        return None
    kind, shown = type(value).__name__, str(value)[:40]
    return f"{name} must be a whole number from {low} to {high}, not {kind} {shown!r}"


def int_setting(name: str) -> int:
    """The whole-number setting ``name``, or its default while the host's value is out of range
    (E017 names it): a wrong value must not make every install page a 500."""
    if number_problem(name) is not None:
        return int(str(DEFAULTS[name]))
    return int(str(setting(name)).strip())


# A century: longer is no retention, and its cut-off date would be out of Python's range.
MAX_RETENTION_DAYS = 36_500
RETENTION_WORDS = f"a whole number of days from 1 to {MAX_RETENTION_DAYS}"


def valid_days(value: object) -> int | None:
    return value if type(value) is int and 1 <= value <= MAX_RETENTION_DAYS else None


def retention_days() -> int | None:
    """SLACK_RETENTION_DAYS: None when unset or 0 (everything is kept), else the days to keep.
    ValueError for any other value: a retention that is not the one meant must erase nothing."""
    value = setting("SLACK_RETENTION_DAYS")
    if value is None or (type(value) is int and value == 0):
        return None
    days = valid_days(value)
    if days is None:
        raise ValueError(
            f"SLACK_RETENTION_DAYS must be {RETENTION_WORDS}, not {type(value).__name__} "
            f"{str(value)[:40]!r}"
        )
    return days


@lru_cache(maxsize=1)
def slack_config() -> SlackConfig:
    return SlackConfig(
        client_id=text_setting("SLACK_CLIENT_ID"),
        app_id=text_setting("SLACK_APP_ID"),
        client_secret=text_setting("SLACK_CLIENT_SECRET"),
        signing_secret=text_setting("SLACK_SIGNING_SECRET"),
        scopes=parse_scopes(setting("SLACK_SCOPES")),  # type: ignore[arg-type]
        user_scopes=parse_scopes(setting("SLACK_USER_SCOPES")),  # type: ignore[arg-type]
        redirect_uri=text_setting("SLACK_REDIRECT_URI"),
        api_url=text_setting("SLACK_API_URL"),
        authorize_url=text_setting("SLACK_AUTHORIZE_URL"),
        state_ttl_seconds=int_setting("SLACK_STATE_TTL_SECONDS"),
        http_timeout_seconds=int_setting("SLACK_HTTP_TIMEOUT_SECONDS"),
        token_rotation_minutes=int_setting("SLACK_TOKEN_ROTATION_MINUTES"),
        pkce=setting("SLACK_PKCE") is True,
        unusable=tuple(name for name in SCOPE_SETTINGS if scopes_problem(name, setting(name))),
    )


@dataclass(frozen=True)
class Branding:
    """What the pages and the admin call the app (all public). ``icon`` is a same-origin path
    (the CSP allows no other); a link that is not https, http or mailto is dropped, so a
    setting can never become a ``javascript:`` link."""

    app_name: str
    description: str
    icon: str
    privacy_url: str
    support_url: str

    @property
    def admin_title(self) -> str:
        return f"{self.app_name} installations"

    @property
    def icon_url(self) -> str:  # also the favicon
        return self.icon if self.icon.startswith("/") else static(self.icon)

    @property
    def named(self) -> bool:
        return self.app_name != DEFAULT_APP_NAME

    @property
    def subject(self) -> str:
        """How a sentence names the app: its configured name, or "The app" when it has none."""
        return self.app_name if self.named else "The app"

    @property
    def support_is_email(self) -> bool:
        return self.support_url.lower().startswith("mailto:")

    @property
    def support_address(self) -> str:
        """The e-mail address of a mailto: link, for a sentence that names it."""
        return self.support_url[len("mailto:") :].split("?", 1)[0] if self.support_is_email else ""


DEFAULT_APP_NAME = "Slack app"
DEFAULT_ICON = "installations/icon.svg"
_LINK_SCHEMES = ("https://", "http://", "mailto:")


def _safe_link(value: object) -> str:
    text = str(value or "").strip()
    return text if text.lower().startswith(_LINK_SCHEMES) and len(text) <= 500 else ""


def _safe_icon(value: object) -> str:
    text = str(value or "").strip()
    if text.startswith("//") or ":" in text:  # another origin: the CSP would block it
        return DEFAULT_ICON
    return text or DEFAULT_ICON


@lru_cache(maxsize=1)
def branding() -> Branding:
    """The optional SLACK_APP_NAME, _DESCRIPTION, _ICON, _PRIVACY_URL and _SUPPORT_URL."""
    return Branding(
        app_name=str(getattr(settings, "SLACK_APP_NAME", "") or DEFAULT_APP_NAME).strip()[:80],
        description=str(getattr(settings, "SLACK_APP_DESCRIPTION", "") or "").strip()[:200],
        icon=_safe_icon(getattr(settings, "SLACK_APP_ICON", "")),
        privacy_url=_safe_link(getattr(settings, "SLACK_APP_PRIVACY_URL", "")),
        support_url=_safe_link(getattr(settings, "SLACK_APP_SUPPORT_URL", "")),
    )


@receiver(setting_changed)
def _forget_cached_settings(**kwargs: object) -> None:
    slack_config.cache_clear()
    branding.cache_clear()
