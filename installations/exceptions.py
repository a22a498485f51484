"""One exception family for everything a user or operator can run into, and one renderer.

Each error has a stable reason code, an HTTP status and a message that never holds a secret.
"""

from __future__ import annotations

import re

from django.core.exceptions import BadRequest as DjangoBadRequest
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse

from installations.error_words import MESSAGE_FOR_SLACK_ERROR

_CODE_CHARS = re.compile(r"[^a-z0-9_.-]")


def safe_code(value: object, default: str = "slack_error") -> str:
    """A Slack error code fit for a log line or a page: short, lower-case, no markup or newlines."""
    cleaned = _CODE_CHARS.sub("", str(value or "").lower())[:64]
    return cleaned or default


class SlackInstallError(Exception):
    """Base of the family. Subclasses set defaults; instances may override them."""

    reason = "error"
    status = 500
    title = "Something went wrong"
    message = "The installation could not be completed. Please start again."
    retry = True  # whether the page offers a fresh start
    template = "installations/error.html"

    def __init__(
        self,
        message: str | None = None,
        *,
        reason: str | None = None,
        status: int | None = None,
        title: str | None = None,
    ) -> None:
        self.message = self.message if message is None else message
        self.reason = self.reason if reason is None else reason
        self.status = self.status if status is None else status
        self.title = self.title if title is None else title
        super().__init__(f"{self.reason}: {self.message}")

    @property
    def metric_reason(self) -> str:
        """The reason as a metric label, from a fixed set: this error's own code, or Slack's
        when ``error_words.py`` knows it; any other code Slack sent counts under the class's."""
        return self.reason if self.reason in MESSAGE_FOR_SLACK_ERROR else type(self).reason


class InvalidInstallRequest(SlackInstallError, DjangoBadRequest):
    """A request that cannot complete an install as sent (the user can only start again): 400,
    also as Django's ``BadRequest`` (an expired link is no ``SuspiciousOperation``)."""

    reason = "bad_request"
    status = 400
    title = "This link can't be used"


# What each way of not getting a usable answer says (the reason codes the transport raises).
UNAVAILABLE_WORDS = {
    "slack_timeout": "Slack did not answer in time.",
    "slack_unavailable": "Slack could not be reached.",
    "slack_http_error": "Slack answered with an error of its own.",
    "slack_redirect": "Slack's answer could not be used.",
    "slack_answer_too_large": "Slack's answer could not be used.",
    "slack_bad_request": "The request to Slack could not be sent.",
    "ratelimited": "Slack is busy right now.",
}


class SlackUnavailable(SlackInstallError):
    """No usable answer from Slack; the message names which way it failed (``reason``)."""

    reason = "slack_unavailable"
    status = 502
    title = "Slack could not be reached"
    message = "Slack could not be reached. Nothing was installed; please try again."

    def __init__(self, message: str | None = None, *, reason: str | None = None) -> None:
        words = UNAVAILABLE_WORDS.get(reason or self.reason)
        if message is None and words is not None:
            message = f"{words} Nothing was installed; please try again."
        super().__init__(message, reason=reason)


class SlackRefused(SlackInstallError):
    """Slack answered ``ok: false``; ``reason`` is Slack's code, read back in plain words."""

    reason = "slack_error"
    status = 502
    title = "Slack refused the request"

    def __init__(self, message: str | None = None, *, reason: str | None = None) -> None:
        code = safe_code(reason or self.reason)
        known = MESSAGE_FOR_SLACK_ERROR.get(code)
        if known is None:
            super().__init__(message, reason=code)
        else:
            super().__init__(known.message, reason=code, status=known.status)


class StorageFailed(SlackInstallError):
    reason = "storage_error"
    status = 500
    title = "The installation could not be saved"
    message = (
        "Something went wrong on our side while saving. Nothing was installed and the "
        "access Slack had just granted was withdrawn. Please try again."
    )


class UnexpectedAnswer(SlackInstallError):
    """Slack said ok, but its answer is not of the shape we rely on, or does not describe an
    install of this app. (The reason code keeps its first name: logs and alerts match on it.)"""

    reason = "unexpected_response"
    status = 502
    title = "Slack sent an answer we could not use"
    message = "Nothing was installed. Please try again; if it keeps happening, tell us."


class InstallCancelled(SlackInstallError):
    """``error=access_denied`` on the callback: the user pressed Cancel (or may not install)."""

    reason = "access_denied"
    status = 200
    title = "Installation cancelled"
    message = (
        "The app was not added to Slack. If you cancelled by mistake, or a workspace admin "
        "has to approve apps first, you can start again at any time."
    )
    template = "installations/cancelled.html"


class AuthorizeRefused(InvalidInstallRequest):
    """Slack sent the browser back with an ``error`` other than access_denied."""

    title = "Slack stopped the installation"

    def __init__(self, code: str) -> None:
        reason = safe_code(code)
        known = MESSAGE_FOR_SLACK_ERROR.get(reason)
        message = known.message if known else "Slack did not let the installation go ahead."
        super().__init__(message, reason=reason)


class MissingState(InvalidInstallRequest):
    reason = "missing_state"
    title = "Please start from our install page"
    message = (
        "Slack sent you here without the check that ties an installation to this browser. "
        "That happens when an install is started from Slack's own pages. Nothing was "
        "installed: start from our install page to finish."
    )


class InvalidState(InvalidInstallRequest):
    """A state we did not issue: malformed, tampered with, or signed for something else."""

    reason = "invalid_state"
    title = "This installation link is not valid"
    message = (
        "The link that brought you here did not come from our install page, or it was changed "
        "on the way. Nothing was installed. Please start again from the install page."
    )


class ExpiredState(InvalidInstallRequest):
    reason = "expired_state"
    title = "This installation link has expired"
    message = "Installation links work for a few minutes only. Nothing was installed."


class MissingCookie(InvalidInstallRequest):
    reason = "missing_cookie"
    title = "We could not confirm this browser started the installation"
    message = (
        "The installation must finish in the browser that started it, with cookies enabled "
        "and over https. Nothing was installed. Please start again from the install page."
    )


class BrowserMismatch(InvalidInstallRequest):
    reason = "invalid_browser"
    title = "This installation was started in another browser"
    message = (
        "For your safety an installation has to finish in the browser that started it. "
        "Nothing was installed. Please start again in this browser."
    )


class MissingCode(InvalidInstallRequest):
    reason = "missing_code"
    title = "Slack did not send an approval"
    message = "The link from Slack had no approval code, so nothing was installed."


class InvalidTeam(InvalidInstallRequest):
    reason = "invalid_team"
    title = "This install link names an unknown workspace"
    message = "The workspace in the link is not a Slack workspace ID (it looks like T0123ABCD)."


class UsedState(InvalidInstallRequest):
    """A state of ours, still unexpired, that was spent already (a reload, or a lost race)."""

    reason = "used_state"
    title = "This link was already used"
    message = (
        "Each installation link works once. If you reloaded this page after installing, the "
        "app is already installed. Otherwise, please start again."
    )


class InvalidSuccessLink(InvalidInstallRequest):
    reason = "invalid_success_link"
    title = "This page has expired"
    message = "The confirmation page can only be opened shortly after an installation."


class NotConfigured(SlackInstallError):
    """The app lacks its Slack credentials: the page names the variables to set."""

    reason = "not_configured"
    status = 503
    title = "The Slack app is not configured yet"
    message = "An operator needs to set these environment variables and restart:"
    retry = False
    template = "installations/not_configured.html"

    def __init__(self, missing: list[str]) -> None:
        self.missing = list(missing)
        super().__init__()


def render_error(request: HttpRequest, error: SlackInstallError) -> HttpResponse:
    """The one renderer for every SlackInstallError: status, title, message, a fresh start."""
    context = {"error": error, "start_url": reverse("installations:install")}
    html = render_to_string(error.template, context, request=request)
    response = HttpResponse(html, status=error.status)
    response["Cache-Control"] = "no-store"
    return response
