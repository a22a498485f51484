"""Slack's error codes in plain words, with the HTTP status our pages answer with: 400 when the
request as made cannot go through, 502 when the app's settings or Slack itself are at fault."""

from __future__ import annotations

from typing import NamedTuple

ADMIN = "An administrator needs to check the app's Slack settings before anyone can install it."
AGAIN_LATER = "Your workspace is moving into an organisation. Please try again later."
SLACK_FAULT = "Slack had a problem on its side. Please try again."


class SlackErrorMessage(NamedTuple):
    """What our page says for one of Slack's error codes, and the status it answers with."""

    message: str
    status: int


# Slack's error codes answered 400: the request as made cannot go through.
BAD_REQUEST_CODES = {
    "invalid_code": "The approval from Slack had expired or was already used. Please start again.",
    "code_already_used": "This approval from Slack was already used. If you just installed "
    "the app, it is installed; otherwise please start again.",
    "oauth_authorization_url_mismatch": "The installation was started on an old Slack page. "
    "Please start again here.",
    "cannot_install_an_org_installed_app": "This app is already installed for your whole "
    "organisation, so it cannot also be installed to a single workspace. Ask an org admin to "
    "add it to this workspace.",
    # PKCE (docs.slack.dev/authentication/using-pkce): the verifier of this browser's state
    # does not match the challenge the approval was given for.
    "invalid_code_verifier": "The approval from Slack belongs to another installation attempt. "
    "Please start again in this browser.",
    "invalid_scope": "The app asked for permissions Slack does not know. " + ADMIN,
    "unapproved_scope": "The app asked for permissions Slack has not approved yet. " + ADMIN,
    "scope_not_allowed_on_enterprise": "The app asked for permissions an organisation-wide "
    "install cannot have. " + ADMIN,
    "invalid_team_for_non_distributed_app": "This app can only be installed in the workspace "
    "it was made in.",
    "user_email_unverified": "Your Slack account's email address is not verified yet. Verify "
    "it, then start again.",
}
# Codes answered 502: only an operator can fix them, or Slack is at fault.
BAD_GATEWAY_CODES = {
    "bad_redirect_uri": "The app's return address does not match the one registered with "
    "Slack. " + ADMIN,
    "bad_client_secret": "Slack did not accept the app's credentials. " + ADMIN,
    "invalid_client_id": "Slack does not recognise this app. " + ADMIN,
    "invalid_grant_type": "Slack did not understand our request. " + ADMIN,
    "pkce_not_allowed": "Slack does not accept PKCE for this app yet. " + ADMIN,
    "no_scopes": "The app asked for no permissions. " + ADMIN,
    "team_added_to_org": AGAIN_LATER,
    "org_login_required": AGAIN_LATER,
    "preview_feature_not_available": "Slack does not offer this to your workspace.",
    "ratelimited": "Slack is busy right now. Please try again in a minute.",
    "internal_error": SLACK_FAULT,
    "fatal_error": SLACK_FAULT,
    "service_unavailable": "Slack is unavailable right now. Please try again.",
    "request_timeout": "Slack did not answer in time. Please try again.",
}
# Slack's error code -> our page's message and status. A code missing here gets a generic message.
MESSAGE_FOR_SLACK_ERROR: dict[str, SlackErrorMessage] = {
    **{code: SlackErrorMessage(words, 400) for code, words in BAD_REQUEST_CODES.items()},
    **{code: SlackErrorMessage(words, 502) for code, words in BAD_GATEWAY_CODES.items()},
}
