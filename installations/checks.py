"""System checks: the keyring must be usable before anything is stored, and the configuration
must have read cleanly (settings.CONFIGURATION_PROBLEMS, slackinstall/settings.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from installations.conf import (
    NUMBER_RANGES,
    REQUIRED_SETTINGS,
    SCOPE_SETTINGS,
    number_problem,
    retention_days,
    scopes_problem,
    setting,
    text_setting,
)
from installations.encryption.keyring import Keyring, KeyringError
from installations.extras import extra_bringing, missing_extra_message


@checks.register(checks.Tags.security)
def check_keyring(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    raw = getattr(settings, "TOKEN_ENCRYPTION_KEYS", "") or ""
    if not raw:  # unset: said once, by check_required_settings (E010) or the project's E003
        return []
    try:
        keyring = Keyring.parse(raw)
    except KeyringError as exc:
        return [checks.Error(str(exc), id="installations.E001")]
    active = getattr(settings, "TOKEN_ENCRYPTION_ACTIVE_KEY_ID", "") or ""
    if active and active not in keyring.kids:
        # Promoting a key this instance does not hold would leave it unable to encrypt at all.
        return [
            checks.Error(
                f"TOKEN_ENCRYPTION_ACTIVE_KEY_ID is {active!r}, which is not a key id in "
                f"TOKEN_ENCRYPTION_KEYS (configured: {', '.join(keyring.kids)})",
                hint="Add the key to TOKEN_ENCRYPTION_KEYS on every instance first "
                "(decrypt-only), deploy, then set TOKEN_ENCRYPTION_ACTIVE_KEY_ID to it.",
                id="installations.E004",
            )
        ]
    key_texts = {entry.split(":", 1)[1].strip() for entry in raw.split(",") if ":" in entry}
    secret_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    if any(secret and secret in key_texts for secret in secret_keys):
        return [
            checks.Error(
                "TOKEN_ENCRYPTION_KEYS reuses DJANGO_SECRET_KEY: token keys must be separate",
                id="installations.E002",
            )
        ]
    return []


@checks.register()
def check_configuration_problems(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Whatever settings.py could not read, for code that loads Django without manage.py."""
    return [
        checks.Error(problem, id="installations.E003")
        for problem in getattr(settings, "CONFIGURATION_PROBLEMS", [])
    ]


@checks.register(checks.Tags.database)
def check_stored_keys_readable(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Warn when stored values are sealed under a key id this configuration does not hold.
    One DISTINCT per encrypted column, so a database check (``migrate``, ``--database``)."""
    if not databases:
        return []
    from installations.encryption.stored_kids import stored_kids

    try:
        configured = Keyring.parse(getattr(settings, "TOKEN_ENCRYPTION_KEYS", "") or "").kids
    except KeyringError:
        return []  # E001 already says so
    try:
        missing = sorted(stored_kids() - set(configured))
    except DatabaseError:  # not migrated yet, or unreachable: other checks say so
        return []
    if not missing:
        return []
    return [
        checks.Warning(
            f"stored tokens are encrypted under key id(s) {', '.join(missing)}, which "
            f"TOKEN_ENCRYPTION_KEYS here does not hold (configured: {', '.join(configured)}): "
            "this instance cannot read them",
            hint="Give every instance every key that any instance encrypts with: add a new key "
            "decrypt-only everywhere before promoting it with TOKEN_ENCRYPTION_ACTIVE_KEY_ID, "
            "and remove an old key only after slack_reencrypt --check passes.",
            id="installations.W005",
        )
    ]


# --- the app's own settings (installations/conf.py, docs/settings.md) ---------------------------
# What a missing required setting holds and where its value comes from (the hint of E010).
WHERE_TO_FIND = {
    "SLACK_CLIENT_ID": "the Client ID on your Slack app's Basic Information page.",
    "SLACK_CLIENT_SECRET": "the Client Secret on your Slack app's Basic Information page.",
    "SLACK_SIGNING_SECRET": "the Signing Secret on your Slack app's Basic Information page.",
    "SLACK_REDIRECT_URI": "the https:// URL of the app's oauth_redirect where you include "
    "installations.urls, also listed under your Slack app's OAuth & Permissions, Redirect URLs.",
    "TOKEN_ENCRYPTION_KEYS": "the kid:key line that `manage.py slack_keygen` prints (never your "
    "SECRET_KEY).",
}


@checks.register()
def check_required_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A required setting that is missing or empty, unless settings.py reported it (E003)."""
    reported = " ".join(getattr(settings, "CONFIGURATION_PROBLEMS", []))
    return [
        checks.Error(
            f"{name} is not set: the installations app needs it",
            hint=f"Set {name} in your Django settings: {WHERE_TO_FIND[name]}",
            id="installations.E010",
        )
        for name in REQUIRED_SETTINGS
        if not text_setting(name) and name not in reported
    ]


@checks.register()
def check_pkce_setting(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """SLACK_PKCE is True or False: any other value (a host's string "false") would decide
    silently whether installs send PKCE, which Slack refuses from an app without it."""
    value = setting("SLACK_PKCE")
    if isinstance(value, bool):
        return []
    return [
        checks.Error(
            f"SLACK_PKCE must be True or False, not {type(value).__name__} {value!r}",
            hint="See docs/settings.md (SLACK_PKCE).",
            id="installations.E014",
        )
    ]


@checks.register()
def check_retention_setting(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """SLACK_RETENTION_DAYS is unset or a whole number of days (``conf.retention_days``)."""
    try:
        retention_days()
    except ValueError as exc:
        return [
            checks.Error(
                str(exc),
                hint="See docs/settings.md (SLACK_RETENTION_DAYS).",
                id="installations.E016",
            )
        ]
    return []


@checks.register()
def check_number_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The whole-number settings are whole numbers in range (``conf.NUMBER_RANGES``)."""
    found = (number_problem(name) for name in NUMBER_RANGES)
    return [
        checks.Error(problem, hint="See docs/settings.md.", id="installations.E017")
        for problem in found
        if problem
    ]


@checks.register()
def check_scope_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """SLACK_SCOPES and SLACK_USER_SCOPES hold scope names Slack can be asked for."""
    found = (scopes_problem(name, setting(name)) for name in SCOPE_SETTINGS)
    return [
        checks.Error(problem, hint="See docs/settings.md.", id="installations.E018")
        for problem in found
        if problem
    ]


@checks.register()
def check_signin_app(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Sign in with Slack switched on needs its app (and so its table) listed: without it the
    first sign-in would fail on a missing table instead of start-up saying what to add."""
    enabled = getattr(settings, "SLACK_SIGNIN_ENABLED", False)
    if not enabled or apps.is_installed("installations.signin"):
        return []
    return [
        checks.Error(
            "SLACK_SIGNIN_ENABLED is on, but installations.signin is not in INSTALLED_APPS",
            hint='Add "installations.signin" to INSTALLED_APPS and run migrate (its table holds '
            "the Slack identities), or switch sign-in off.",
            id="installations.E015",
        )
    ]


# What a Bolt AsyncApp needs beyond the bolt extra (bolt/request_url.py says it too).
ASYNC_EXTRA = 'an AsyncApp needs aiohttp: pip install "django-slackinstall[bolt-async]"'


@checks.register()
def check_dotted_paths(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """SLACK_BOLT_APP and SLACK_INSTALL_CUSTOM_VALUES name something importable."""
    found: list[checks.CheckMessage] = []
    for name, error_id in (("SLACK_BOLT_APP", "E011"), ("SLACK_INSTALL_CUSTOM_VALUES", "E012")):
        path = text_setting(name)
        if not path:
            continue
        try:
            import_string(path)
        except (ImportError, ImproperlyConfigured) as exc:
            found.append(
                checks.Error(
                    f"{name}={path} cannot be imported: {exc}",
                    hint=_extra_hint(exc),
                    id=f"installations.{error_id}",
                )
            )
    return found


def _extra_hint(exc: BaseException | None) -> str | None:
    """The extra to install when ``exc`` (or what caused it) is the import of a module an extra
    brings (extras.py) failing; None otherwise."""
    while exc is not None:
        module = (exc.name or "").split(".")[0] if isinstance(exc, ImportError) else ""
        extra = extra_bringing(module)
        if extra:
            return missing_extra_message(extra, module)
        exc = exc.__cause__ or exc.__context__
    return None


@checks.register(checks.Tags.urls)
def check_redirect_uri_path(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """SLACK_REDIRECT_URI must name the callback where the host mounted the app's URLs."""
    redirect_uri = text_setting("SLACK_REDIRECT_URI")
    if not redirect_uri:
        return []
    try:
        path = reverse("installations:oauth-redirect")
    except NoReverseMatch:
        return [
            checks.Warning(
                "the installations URLs are not included in ROOT_URLCONF",
                hint='Add path("<prefix>/", include("installations.urls")) to your urls.py.',
                id="installations.W010",
            )
        ]
    if urlsplit(redirect_uri).path != path:
        return [
            checks.Error(
                f"SLACK_REDIRECT_URI's path is {urlsplit(redirect_uri).path!r}, but the app's "
                f"callback is served at {path!r}",
                hint="Make SLACK_REDIRECT_URI end with the callback's path (and register the same "
                "URL in your Slack app's OAuth settings).",
                id="installations.E013",
            )
        ]
    return []


# URLs that carry an OAuth code, a token or a signing key; with DEBUG off none may be plain http
# (a stand-in on this machine excepted: loopback traffic never crosses a network).
SECRET_BEARING_URLS = (
    "SLACK_REDIRECT_URI",
    "SLACK_SIGNIN_REDIRECT_URI",
    "SLACK_API_URL",
    "SLACK_AUTHORIZE_URL",
    "SLACK_SIGNIN_AUTHORIZE_URL",
    "SLACK_SIGNIN_JWKS_URL",
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@checks.register(checks.Tags.security, deploy=True)
def check_https_urls(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``check --deploy``: with DEBUG off, a plain ``http://`` URL among SECRET_BEARING_URLS is a
    warning naming it (codes or tokens would travel in clear)."""
    if settings.DEBUG:
        return []
    found: list[checks.CheckMessage] = []
    for name in SECRET_BEARING_URLS:
        value = str(getattr(settings, name, "") or "").strip()
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:  # not a URL at all: the checks of the setting's own reader say so
            continue
        if parts.scheme.lower() == "http" and host not in LOOPBACK_HOSTS:
            found.append(
                checks.Warning(
                    f"{name} is a plain http:// URL while DEBUG is off (host {host!r})",
                    hint=f"Set {name} to its https:// URL (a redirect URL also in your Slack "
                    "app's OAuth & Permissions, Redirect URLs).",
                    id="installations.W011",
                )
            )
    return found


# The socket timeouts each Redis backend takes in OPTIONS: Django's own, and django-redis's.
REDIS_TIMEOUT_OPTIONS = {
    "django.core.cache.backends.redis.RedisCache": ("socket_connect_timeout", "socket_timeout"),
    "django_redis.cache.RedisCache": ("SOCKET_CONNECT_TIMEOUT", "SOCKET_TIMEOUT"),
}


@checks.register(checks.Tags.caches)
def check_cache_timeouts(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A Redis default cache needs socket timeouts: the circuit breaker skips a cache whose calls
    fail, but a Redis that accepts connections and never answers would hold every call."""
    config = (getattr(settings, "CACHES", None) or {}).get("default") or {}
    names = REDIS_TIMEOUT_OPTIONS.get(str(config.get("BACKEND", "")))
    if names is None:
        return []
    options = config.get("OPTIONS") or {}
    missing = [n for n in names if not (type(options.get(n)) in (int, float) and options[n] > 0)]
    if not missing:
        return []
    return [
        checks.Warning(
            f"the default cache (Redis) has no {' or '.join(missing)}: a Redis that stops "
            "answering would hold every request that uses the cache for good",
            hint=f"Set CACHES['default']['OPTIONS'] {', '.join(repr(n) for n in names)} to a "
            "few seconds (2 is this project's own).",
            id="installations.W012",
        )
    ]
