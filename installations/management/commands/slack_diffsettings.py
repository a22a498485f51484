"""``slack_diffsettings``: Django's diffsettings, with secrets masked (a name of its own, so
Django's is never replaced)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import Settings, global_settings, settings
from django.core.management.commands.diffsettings import Command as DjangoDiffSettings
from django.core.management.commands.diffsettings import module_to_dict
from django.views.debug import SafeExceptionReporterFilter

# Where Slack is reached: no secret, and what an operator checks first. Django's filter would
# hide them for the "API" or "AUTH" in their names; a password in such a URL is still masked.
PUBLIC_URL_SETTINGS = frozenset(
    {
        "SLACK_API_URL",
        "SLACK_AUTHORIZE_URL",
        "SLACK_REDIRECT_URI",
        "SLACK_SIGNIN_AUTHORIZE_URL",
        "SLACK_SIGNIN_JWKS_URL",
        "SLACK_SIGNIN_REDIRECT_URI",
    }
)


def shown(name: str, cleansed: Any) -> Any:
    """The value as printed: public Slack URLs as they are set (unless they hold credentials),
    the rest as Django's filter cleansed them."""
    value = getattr(settings, name, None)
    if name in PUBLIC_URL_SETTINGS and isinstance(value, str):
        parts = urlsplit(value)
        if parts.username is None and parts.password is None:
            return value
    return cleansed


class Command(DjangoDiffSettings):
    help = (
        "Show how the settings differ from Django's defaults, with every key, token, secret and "
        "password masked (Django's own version prints them in clear)."
    )

    def handle(self, **options: Any) -> str:
        # As Django's handle(), printing Django's cleansed settings (public Slack URLs as set).
        safe = SafeExceptionReporterFilter().get_safe_settings()
        user_settings = {name: repr(shown(name, value)) for name, value in safe.items()}
        default = options["default"]
        default_settings = module_to_dict(Settings(default) if default else global_settings)
        output = {"hash": self.output_hash, "unified": self.output_unified}[options["output"]]
        return "\n".join(output(user_settings, default_settings, **options))
