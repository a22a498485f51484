"""Exception reports without secrets: the debug 500 page, its plain-text twin, and error mails.

Django's ``SafeExceptionReporterFilter`` is off with DEBUG on, hides by name only and never
touches the query string, the URL or exception messages. ``DebugSafeExceptionFilter`` is always
on and also hides every non-scalar value in frames called from a ``@sensitive_variables`` one,
and any value holding a known secret, a token shape or URL credentials;
``DebugSafeExceptionReporter`` also cleanses the query, the URL and the exception messages.
"""

from __future__ import annotations

import re
from collections.abc import ItemsView, Iterable, Iterator
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from installations.observability.redaction import redact

CLEANSED = SafeExceptionReporterFilter.cleansed_substitute
MIN_SECRET_LENGTH = 8

# Settings, environ (runserver copies os.environ into META) and header names holding secrets:
# Django's list plus the names it misses.
SECRET_SETTING_NAMES = re.compile(
    r"API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|COOKIE|SESSION|CSRF|CREDENTIAL|PRIVATE|SALT|DSN"
    r"|WEBHOOK|DATABASE_URL",
    re.IGNORECASE,
)
# Settings whose *values* are secrets, to be found wherever else they show up.
SECRET_VALUE_NAMES = re.compile(
    r"SECRET|PASSWORD|PASSWD|PASSPHRASE|PRIVATE|CREDENTIAL|SIGNING|DSN|API_?KEY"
    r"|(?:^|_)KEYS?(?:_|$)|(?:^|_)TOKENS?(?:_|$)",
    re.IGNORECASE,
)
DOTTED_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")  # PASSWORD_HASHERS: import paths
# Local variable and query parameter names: also the OAuth callback's own words.
SECRET_VARIABLE_NAMES = re.compile(
    r"token|secret|passw|signature|auth|cookie|session|csrf|credential|private|webhook|salt"
    r"|(?:^|_)(?:code|state|key|keys|verifier|nonce)$",
    re.IGNORECASE,
)
URL_META_KEYS = frozenset({"QUERY_STRING", "RAW_URI", "REQUEST_URI", "HTTP_REFERER", "HTTP_ORIGIN"})
URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@:]*:[^/\s@]*@")
AUTH_SCHEMES = re.compile(r"\b(?:Basic|Bearer) +[A-Za-z0-9+/=._~-]{16,}")  # Authorization values
SECRET_MARKERS = ("incoming_webhook",)  # Slack's answer: the webhook URL has no fixed shape
PLAIN_SCALARS = (int, float, bool, type(None))


def _one_line(value: Any) -> str:
    """The value's repr on one line. Not pformat, which is what the page shows: it wraps long
    strings and bytes into pieces, and a secret cut in two matches no substring or pattern."""
    try:
        return repr(value)
    except Exception as exc:  # a broken __repr__ must not break the error page
        return f"<unrepresentable {type(exc).__name__}>"


def _strings_under_secret_names(name: str, value: Any, depth: int = 0) -> Iterator[str]:
    """Every string held under a secret-looking name (nested dicts included), and its parts."""
    if depth > 4:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings_under_secret_names(str(key), item, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings_under_secret_names(name, item, depth + 1)
    elif isinstance(value, str) and SECRET_VALUE_NAMES.search(name):
        yield value
        yield from re.split(r"[,:;\s]+", value)  # TOKEN_ENCRYPTION_KEYS: "kid:key,kid:key"


class EverySettingAsIs(SafeExceptionReporterFilter):
    """Django's own reader of every setting, values left as they are (a deprecated setting is
    read without a warning raised from here, and still searched for secrets)."""

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        return value


def settings_secrets() -> set[str]:
    """The values of secret settings (and their parts), to be hidden wherever they appear."""
    found: set[str] = set()
    for name, value in EverySettingAsIs().get_safe_settings().items():
        found.update(_strings_under_secret_names(name, value))
    return {s for s in found if len(s) >= MIN_SECRET_LENGTH and not DOTTED_PATH.fullmatch(s)}


def request_secrets(request: HttpRequest | None) -> set[str]:
    """Secret settings plus what this request carries: code, state, cookies, credentials."""
    found = settings_secrets()
    if request is None:
        return found
    meta = getattr(request, "META", {}) or {}
    for key in ("HTTP_AUTHORIZATION", "HTTP_COOKIE", "HTTP_X_SLACK_SIGNATURE"):
        value = meta.get(key)
        if isinstance(value, str):
            found.update([value, *value.split()])
    found.update(v for v in getattr(request, "COOKIES", {}).values() if isinstance(v, str))
    for params in (getattr(request, "GET", None), getattr(request, "_post", None)):
        if isinstance(params, MultiValueDict):
            for key, values in params.lists():
                if SECRET_VARIABLE_NAMES.search(str(key)):
                    found.update(v for v in values if isinstance(v, str))
    return {s for s in found if len(s) >= MIN_SECRET_LENGTH}


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each known secret, token shape, URL credential and auth header masked."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, CLEANSED)
    text = URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{CLEANSED}@", text)
    return AUTH_SCHEMES.sub(CLEANSED, redact(text))


def reveals(value: Any, secrets: Iterable[str]) -> bool:
    """Whether showing ``value`` would show a secret."""
    if isinstance(value, PLAIN_SCALARS):
        return False
    texts = [_one_line(value)]
    if isinstance(value, str):
        texts.append(value)  # repr escapes quotes and backslashes a secret may hold
    elif isinstance(value, bytes):
        texts.append(value.decode("utf-8", "replace"))
    return any(
        scrub_text(text, secrets) != text or any(m in text for m in SECRET_MARKERS)
        for text in texts
    )


def cleanse_url(url: str, secrets: Iterable[str]) -> str:
    """A URL with known secrets, and the values of secret-named query parameters, masked."""
    head, mark, query = url.partition("?")
    pairs = [
        (key, CLEANSED if SECRET_VARIABLE_NAMES.search(key) else value)
        for key, value in parse_qsl(query, keep_blank_values=True)
    ]
    query = scrub_text(urlencode(pairs, safe="*/:"), secrets) if mark else ""
    return scrub_text(head, secrets) + mark + query


def _distance_to_sensitive_wrapper(frame: FrameType) -> int | None:
    """0 for a @sensitive_variables wrapper frame, 1 for the decorated function, more for the
    functions it called; None outside any decorated call."""
    distance, current = 0, frame
    while True:
        if (
            current.f_code.co_name == "sensitive_variables_wrapper"
            and "sensitive_variables_wrapper" in current.f_locals
        ):
            return distance
        if current.f_back is None:
            return None
        current, distance = current.f_back, distance + 1


class DebugSafeExceptionFilter(SafeExceptionReporterFilter):
    """Django's filter, always active, that also hides secrets by content (see module docstring)."""

    hidden_settings = SECRET_SETTING_NAMES

    def is_active(self, request: HttpRequest | None) -> bool:
        return True  # DEBUG on included: that is when the page is shown to the requester

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        if isinstance(value, str) and reveals(value, settings_secrets()):
            return CLEANSED
        return super().cleanse_setting(key, value)

    def get_safe_request_meta(self, request: HttpRequest | None) -> dict[str, Any]:
        if request is None or not hasattr(request, "META"):
            return {}
        secrets = request_secrets(request)
        return {key: self._cleanse_meta(key, value, secrets) for key, value in request.META.items()}

    def _cleanse_meta(self, key: str, value: Any, secrets: set[str]) -> Any:
        if SECRET_SETTING_NAMES.search(key):
            return CLEANSED
        if isinstance(value, str):
            return (
                cleanse_url(value, secrets) if key in URL_META_KEYS else scrub_text(value, secrets)
            )
        return super().cleanse_setting(key, value)

    def get_safe_cookies(self, request: HttpRequest | None) -> dict[str, str]:
        return {name: CLEANSED for name in getattr(request, "COOKIES", {}) or {}}

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        if request is None:
            return {}
        return self.cleanse_parameters(request, super().get_post_parameters(request))

    def cleanse_parameters(self, request: HttpRequest | None, params: Any) -> Any:
        """A copy of a QueryDict / MultiValueDict with secret-named or -holding values masked."""
        if not isinstance(params, MultiValueDict):
            return params
        secrets = request_secrets(request)
        cleansed = QueryDict(mutable=True) if isinstance(params, QueryDict) else MultiValueDict()
        for key, values in params.lists():
            hidden = SECRET_VARIABLE_NAMES.search(str(key))
            cleansed.setlist(
                key, [CLEANSED if hidden or reveals(v, secrets) else v for v in values]
            )
        return cleansed

    def cleanse_special_types(self, request: HttpRequest | None, value: Any) -> Any:
        if isinstance(value, HttpRequest):  # method and path, never the query string
            return f"<{type(value).__name__}: {value.method} {value.path!r}>"
        if isinstance(value, MultiValueDict):
            return self.cleanse_parameters(request, value)
        return super().cleanse_special_types(request, value)

    def get_traceback_frame_variables(
        self, request: HttpRequest | None, tb_frame: FrameType
    ) -> ItemsView[str, Any]:
        distance = _distance_to_sensitive_wrapper(tb_frame)
        called_from_sensitive = distance is not None and distance > 1
        secrets = request_secrets(request)
        cleansed: dict[str, Any] = {}  # as Django's: a frame's variables by name, in order
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            if isinstance(value, str) and value == CLEANSED:
                pass
            elif called_from_sensitive and not isinstance(value, PLAIN_SCALARS):
                value = CLEANSED
            elif SECRET_VARIABLE_NAMES.search(name) or reveals(value, secrets):
                value = CLEANSED
            cleansed[name] = value
        return cleansed.items()


class DebugSafeExceptionReporter(ExceptionReporter):
    """Django's reporter, cleansing what it renders without asking the filter."""

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        secrets = request_secrets(self.request)
        if self.request is not None:
            text_filter = self.filter
            if not isinstance(text_filter, DebugSafeExceptionFilter):
                text_filter = DebugSafeExceptionFilter()
            query = text_filter.cleanse_parameters(self.request, self.request.GET)
            data["request_GET_items"] = list(query.items())
            data["request_insecure_uri"] = cleanse_url(data["request_insecure_uri"], secrets)
        for key in ("exception_value", "exception_notes", "unicode_hint"):
            # A string up to Django 6.0; Django 6.1 passes the exception object itself as
            # exception_value (the template renders its str()): cleanse what would be rendered.
            if data.get(key) is not None:
                data[key] = scrub_text(str(data[key]), secrets)
        for frame in data.get("frames", []):
            if frame.get("exc_cause") is not None:
                frame["exc_cause"] = scrub_text(str(frame["exc_cause"]), secrets)
        return data
