"""One exception family for everything a user or operator can run into, and one renderer.

Each error carries a stable reason code (logged, tested), an HTTP status and a plain-words
message. Messages never contain a token, a code or a secret.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


class SlackInstallError(Exception):
    """Base of the family. Subclasses set defaults; instances may override them."""

    reason = "error"
    status = 500
    title = "Something went wrong"
    message = "The installation could not be completed. Please start again."
    retry = True  # whether the page offers a fresh start

    def __init__(
        self,
        message: str | None = None,
        *,
        reason: str | None = None,
        status: int | None = None,
        title: str | None = None,
    ) -> None:
        if message is not None:
            self.message = message
        if reason is not None:
            self.reason = reason
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        super().__init__(f"{self.reason}: {self.message}")


class BadRequest(SlackInstallError):
    reason = "bad_request"
    status = 400
    title = "This link can't be used"


class SlackUnavailable(SlackInstallError):
    reason = "slack_unavailable"
    status = 502
    title = "Slack could not be reached"
    message = "Slack did not answer in time. Nothing was installed; please try again."


class SlackRefused(SlackInstallError):
    reason = "slack_error"
    status = 502
    title = "Slack refused the request"


class StorageFailed(SlackInstallError):
    reason = "storage_error"
    status = 500
    title = "The installation could not be saved"
    message = "Nothing was installed and the issued tokens were revoked. Please try again."


def render_error(request: HttpRequest, error: SlackInstallError) -> HttpResponse:
    """The one page for every SlackInstallError: status, title, message, a fresh start."""
    html = render_to_string("installations/error.html", {"error": error}, request=request)
    response = HttpResponse(html, status=error.status)
    response["Cache-Control"] = "no-store"
    return response
