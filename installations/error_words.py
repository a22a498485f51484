"""Slack's error codes in plain words, with the HTTP status our pages answer with.

A code the user can fix by starting again is a 400; one only an operator can fix, or a fault on
Slack's side, a 502. Imports nothing of the app.
"""

from __future__ import annotations

from typing import NamedTuple

ADMIN = "An administrator needs to check the app's Slack settings before anyone can install it."


class SlackErrorMessage(NamedTuple):
    """What our page says for one of Slack's error codes, and the status it answers with."""

    message: str
    status: int


# Slack's error code -> our page's message and status. A code missing here gets a generic message.
MESSAGE_FOR_SLACK_ERROR: dict[str, SlackErrorMessage] = {
    "invalid_code": SlackErrorMessage(
        "The approval from Slack had expired or was already used. Please start again.", 400
    ),
    "code_already_used": SlackErrorMessage(
        "This approval from Slack was already used. If you just installed the app, it is "
        "installed; otherwise please start again.",
        400,
    ),
    "bad_redirect_uri": SlackErrorMessage(
        "The app's return address does not match the one registered with Slack. " + ADMIN, 502
    ),
    "bad_client_secret": SlackErrorMessage(
        "Slack did not accept the app's credentials. " + ADMIN, 502
    ),
    "invalid_client_id": SlackErrorMessage("Slack does not recognise this app. " + ADMIN, 502),
    "invalid_grant_type": SlackErrorMessage("Slack did not understand our request. " + ADMIN, 502),
    "oauth_authorization_url_mismatch": SlackErrorMessage(
        "The installation was started on an old Slack page. Please start again here.", 400
    ),
    "cannot_install_an_org_installed_app": SlackErrorMessage(
        "This app is already installed for your whole organisation, so it cannot also be "
        "installed to a single workspace. Ask an org admin to add it to this workspace.",
        400,
    ),
    # PKCE (docs.slack.dev/authentication/using-pkce): the verifier of this browser's state
    # does not match the challenge the approval was given for, or PKCE is off for the app.
    "invalid_code_verifier": SlackErrorMessage(
        "The approval from Slack belongs to another installation attempt. Please start again "
        "in this browser.",
        400,
    ),
    "pkce_not_allowed": SlackErrorMessage(
        "Slack does not accept PKCE for this app yet. " + ADMIN, 502
    ),
    "no_scopes": SlackErrorMessage("The app asked for no permissions. " + ADMIN, 502),
    "invalid_scope": SlackErrorMessage(
        "The app asked for permissions Slack does not know. " + ADMIN, 400
    ),
    "unapproved_scope": SlackErrorMessage(
        "The app asked for permissions Slack has not approved yet. " + ADMIN, 400
    ),
    "scope_not_allowed_on_enterprise": SlackErrorMessage(
        "The app asked for permissions an organisation-wide install cannot have. " + ADMIN, 400
    ),
    "invalid_team_for_non_distributed_app": SlackErrorMessage(
        "This app can only be installed in the workspace it was made in.", 400
    ),
    "user_email_unverified": SlackErrorMessage(
        "Your Slack account's email address is not verified yet. Verify it, then start again.",
        400,
    ),
    "team_added_to_org": SlackErrorMessage(
        "Your workspace is moving into an organisation. Please try again later.", 502
    ),
    "org_login_required": SlackErrorMessage(
        "Your workspace is moving into an organisation. Please try again later.", 502
    ),
    "preview_feature_not_available": SlackErrorMessage(
        "Slack does not offer this to your workspace.", 502
    ),
    "ratelimited": SlackErrorMessage("Slack is busy right now. Please try again in a minute.", 502),
    "internal_error": SlackErrorMessage("Slack had a problem on its side. Please try again.", 502),
    "fatal_error": SlackErrorMessage("Slack had a problem on its side. Please try again.", 502),
    "service_unavailable": SlackErrorMessage(
        "Slack is unavailable right now. Please try again.", 502
    ),
    "request_timeout": SlackErrorMessage("Slack did not answer in time. Please try again.", 502),
}
