"""Why a sign-in failed: members of the app's one error family, whose fresh start is the sign-in
page. Messages never hold a code, a token or a claim value."""

from __future__ import annotations

from installations.exceptions import SlackInstallError


class SignInError(SlackInstallError):
    reason = "signin_error"
    status = 400
    title = "Sign-in failed"
    message = "You were not signed in. Please start again."
    template = "installations/signin/error.html"


class SignInDisabled(SignInError):
    reason = "signin_disabled"
    status = 404
    title = "Sign in with Slack is not available here"
    message = "This site does not offer Sign in with Slack."
    retry = False


class SignInNotConfigured(SignInError):
    reason = "signin_not_configured"
    status = 503
    title = "Sign in with Slack is not configured yet"
    message = "An operator needs to set the Slack app's credentials and redirect URI."
    retry = False


class SignInCancelled(SignInError):
    reason = "access_denied"
    status = 200
    title = "Sign-in cancelled"
    message = "You did not sign in. You can start again at any time."


class SignInRefused(SignInError):
    """Slack sent the browser back with an ``error`` other than access_denied."""

    title = "Slack stopped the sign-in"
    message = "Slack did not let the sign-in go ahead."


class MissingState(SignInError):
    reason = "missing_state"
    title = "Please start from our sign-in page"
    message = "Slack sent you here without the check that ties a sign-in to this browser."


class InvalidState(SignInError):
    reason = "invalid_state"
    title = "This sign-in link is not valid"
    message = "The link that brought you here did not come from our sign-in page."


class ExpiredState(SignInError):
    reason = "expired_state"
    title = "This sign-in link has expired"
    message = "Sign-in links work for a few minutes only."


class MissingCookie(SignInError):
    reason = "missing_cookie"
    title = "We could not confirm this browser started the sign-in"
    message = "A sign-in must finish in the browser that started it, with cookies enabled."


class BrowserMismatch(SignInError):
    reason = "invalid_browser"
    title = "This sign-in was started in another browser"
    message = "For your safety a sign-in has to finish in the browser that started it."


class UsedState(SignInError):
    reason = "used_state"
    title = "This sign-in link was already used"
    message = "Each sign-in link works once."


class MissingCode(SignInError):
    reason = "missing_code"
    title = "Slack did not send an approval"
    message = "The link from Slack had no approval code, so you were not signed in."


class BadIdToken(SignInError):
    """The id_token failed verification; ``reason`` says which check (docs/security.md)."""

    status = 502
    title = "Slack's answer could not be verified"
    message = "The identity Slack sent could not be verified, so you were not signed in."

    def __init__(self, reason: str) -> None:
        super().__init__(reason=reason)


class UnusableClaim(SignInError):
    """A verified id_token carries text this site cannot store or show (NUL, lone surrogate)."""

    reason = "unusable_claim"
    status = 502
    title = "Slack's answer could not be used"
    message = "Your Slack profile holds characters this site cannot store: you were not signed in."


class TeamNotAllowed(SignInError):
    reason = "team_not_allowed"
    status = 403
    title = "This workspace may not sign in here"
    message = "People of the Slack workspace you chose cannot sign in to this site."


class IdentityLinkedElsewhere(SignInError):
    reason = "identity_linked_elsewhere"
    status = 409
    title = "This Slack account belongs to another user here"
    message = "The Slack account you chose is already linked to a different account on this site."


class LinkNotConfirmed(SignInError):
    """Linking a Slack identity to the signed-in account waits for their confirmation."""

    reason = "link_not_confirmed"
    status = 409
    title = "This Slack account was not linked"
    message = (
        "Linking a Slack account to the account you are signed in with needs your confirmation."
    )


class NoPendingLink(SignInError):
    reason = "no_pending_link"
    title = "There is nothing to link"
    message = "No Slack account is waiting to be linked to yours, or the wait is over."


class AccountDisabled(SignInError):
    reason = "account_disabled"
    status = 403
    title = "This account is disabled"
    message = "The account linked to this Slack identity has been disabled."
