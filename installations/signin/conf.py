"""Sign in with Slack's settings, parsed once (and again when a setting changes). Every one has
a default: with ``SLACK_SIGNIN_ENABLED`` unset the flow answers 404 and no button is drawn."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import NoReverseMatch, reverse

from installations.conf import slack_config

# id_token "iss" (https://slack.com/.well-known/openid-configuration)
SLACK_ISSUER = "https://slack.com"
SCOPES = ("openid", "email", "profile")
MAX_JWKS_CACHE_SECONDS = 24 * 3600  # a key Slack withdrew stops being trusted within a day


def _words(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    return tuple(str(part).strip() for part in parts if str(part).strip())


def _setting(name: str, default: object) -> object:
    value = getattr(settings, name, None)
    return default if value is None else value


@dataclass(frozen=True)
class SigninConfig:
    enabled: bool
    redirect_uri: str  # "" when it cannot be derived (no SLACK_REDIRECT_URI): not configured
    authorize_url: str
    jwks_url: str
    issuer: str
    allowed_teams: tuple[str, ...]  # team or enterprise ids; () = any workspace
    staff_teams: tuple[str, ...]
    staff_users: tuple[str, ...]
    staff_email_domain: str
    staff_group: str
    password_login: bool
    jwks_cache_seconds: int
    leeway_seconds: int

    @property
    def staff_mapping_on(self) -> bool:
        """Staff through Slack needs at least a staff team or org: user ids and email domains
        alone could match people of any workspace (docs/security.md, "Sign in with Slack")."""
        return bool(self.staff_teams)


def _default_redirect_uri() -> str:
    """The install redirect's origin + the sign-in callback's path."""
    install = urlsplit(slack_config().redirect_uri)
    if not install.scheme or not install.netloc:
        return ""
    try:
        path = reverse("slack_signin:callback")
    except NoReverseMatch:  # the host did not include our URLs
        return ""
    return f"{install.scheme}://{install.netloc}{path}"


@lru_cache(maxsize=1)
def signin_config() -> SigninConfig:
    cache_seconds = int(_setting("SLACK_SIGNIN_JWKS_CACHE_SECONDS", 3600))  # type: ignore[call-overload]
    return SigninConfig(
        enabled=bool(_setting("SLACK_SIGNIN_ENABLED", False)),
        redirect_uri=str(_setting("SLACK_SIGNIN_REDIRECT_URI", "") or _default_redirect_uri()),
        authorize_url=str(
            _setting("SLACK_SIGNIN_AUTHORIZE_URL", "https://slack.com/openid/connect/authorize")
        ),
        jwks_url=str(_setting("SLACK_SIGNIN_JWKS_URL", "https://slack.com/openid/connect/keys")),
        issuer=str(_setting("SLACK_SIGNIN_ISSUER", SLACK_ISSUER)),
        allowed_teams=_words(_setting("SLACK_SIGNIN_ALLOWED_TEAMS", ())),
        staff_teams=_words(_setting("SLACK_SIGNIN_STAFF_TEAMS", ())),
        staff_users=_words(_setting("SLACK_SIGNIN_STAFF_USERS", ())),
        staff_email_domain=str(_setting("SLACK_SIGNIN_STAFF_EMAIL_DOMAIN", "")).lower().lstrip("@"),
        staff_group=str(_setting("SLACK_SIGNIN_STAFF_GROUP", "")),
        password_login=bool(_setting("SLACK_SIGNIN_PASSWORD_LOGIN", True)),
        jwks_cache_seconds=max(0, min(cache_seconds, MAX_JWKS_CACHE_SECONDS)),
        leeway_seconds=int(_setting("SLACK_SIGNIN_LEEWAY_SECONDS", 30)),  # type: ignore[call-overload]
    )


@receiver(setting_changed)
def _forget(**kwargs: object) -> None:
    signin_config.cache_clear()
