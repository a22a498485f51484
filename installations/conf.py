"""One object for the app's settings; nothing else in the app reads Django settings for Slack.

``slackinstall/settings.py`` reads the environment; this module turns those settings into typed,
parsed values (scopes as tuples, the keyring) and caches them until a setting changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from installations.encryption.keyring import Keyring


def parse_scopes(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Comma-separated scopes (Slack's format) as a tuple without blanks or repeats, order kept."""
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else list(value)
    seen: dict[str, None] = {}
    for part in parts:
        scope = part.strip()
        if scope:
            seen.setdefault(scope, None)
    return tuple(seen)


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

    def __repr__(self) -> str:  # secrets stay out of debug pages and logs
        return f"SlackConfig(client_id={self.client_id!r}, api_url={self.api_url!r})"

    @property
    def is_configured(self) -> bool:
        return bool(self.client_id and self.client_secret and self.redirect_uri)

    @property
    def missing_variables(self) -> list[str]:
        """Which variables an operator still has to set before installs can work."""
        pairs = [
            ("SLACK_CLIENT_ID", self.client_id),
            ("SLACK_CLIENT_SECRET", self.client_secret),
            ("SLACK_REDIRECT_URI", self.redirect_uri),
        ]
        return [name for name, value in pairs if not value]


@lru_cache(maxsize=1)
def slack_config() -> SlackConfig:
    return SlackConfig(
        client_id=settings.SLACK_CLIENT_ID or "",
        app_id=getattr(settings, "SLACK_APP_ID", "") or "",
        client_secret=settings.SLACK_CLIENT_SECRET or "",
        signing_secret=settings.SLACK_SIGNING_SECRET or "",
        scopes=parse_scopes(settings.SLACK_SCOPES),
        user_scopes=parse_scopes(settings.SLACK_USER_SCOPES),
        redirect_uri=settings.SLACK_REDIRECT_URI or "",
        api_url=settings.SLACK_API_URL,
        authorize_url=settings.SLACK_AUTHORIZE_URL,
        state_ttl_seconds=int(settings.SLACK_STATE_TTL_SECONDS),
        http_timeout_seconds=int(settings.SLACK_HTTP_TIMEOUT_SECONDS),
        token_rotation_minutes=int(settings.SLACK_TOKEN_ROTATION_MINUTES),
    )


@lru_cache(maxsize=1)
def keyring() -> Keyring:
    """The configured keyring; raises KeyringError when the setting is malformed."""
    return Keyring.parse(settings.TOKEN_ENCRYPTION_KEYS)


@receiver(setting_changed)
def _forget_cached_settings(**kwargs: object) -> None:
    slack_config.cache_clear()
    keyring.cache_clear()
