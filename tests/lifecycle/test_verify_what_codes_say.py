"""What an auth.test answer says about a token, as slack_verify and the admin's "verify" record
it (docs/slack-protocol.md §5 and §9): only the codes that speak of the token count against it;
a rate limit, Slack's own fault or an unknown code says nothing (health unknown, the run exits
1); a policy code says the token is alive; a working token of another workspace, org or app is
not this workspace's token (dead here, never ok).
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import CommandError, call_command
from django.urls import reverse

from installations.models import Health, LifecycleEvent, Workspace

pytestmark = pytest.mark.django_db

# Codes Slack answers with HTTP 200 that say nothing about the token: a rate limit, its own
# faults, a request-format error, and a code nobody has seen yet.
SAYS_NOTHING = ["ratelimited", "internal_error", "fatal_error", "request_timeout", "not_authed"]
SAYS_NOTHING += ["a_code_slack_adds_later"]
FOREIGN_TOKEN = "foreign_token"


def verify_run() -> tuple[str, str | None]:
    """slack_verify as cron runs it: (what it printed, its error line when it exits 1)."""
    out = io.StringIO()
    try:
        call_command("slack_verify", "--concurrency", "1", stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), None


def refuse_auth_test(standin: Any, code: str) -> None:
    """Every auth.test answers HTTP 200 ``{"ok": false, "error": code}`` until ``answer_again``
    (a rate-limit handler may ask again: it is refused again)."""
    standin.fail_next("auth.test", error=code, times=5)


def answer_again(standin: Any) -> None:
    with standin.state.lock:
        standin.state.faults.pop("auth.test", None)


def stored(workspace: Workspace) -> tuple[str, int, str]:
    row = Workspace.objects.get(pk=workspace.pk)
    return row.health, row.verify_failures, row.last_error


# --- refusals that say nothing about the token --------------------------------------------------


@pytest.mark.parametrize("code", SAYS_NOTHING)
def test_a_refusal_that_says_nothing_never_counts_and_fails_the_run(standin, install, code):
    workspace, body = install()
    refuse_auth_test(standin, code)
    printed, failed = verify_run()
    assert failed is not None and "could not be reached for 1 of 1" in failed
    assert code in printed
    assert stored(workspace) == (Health.UNKNOWN, 0, code)
    answer_again(standin)
    standin.set_token_error(body["access_token"], "invalid_auth")
    verify_run()
    assert stored(workspace) == (Health.SUSPECT, 1, "invalid_auth")  # one refusal: not dead


@pytest.mark.parametrize("code", ["ratelimited", "internal_error"])
def test_a_refusal_between_two_invalid_auth_keeps_the_count(standin, install, code):
    """invalid_auth, then a rate limit: still one refusal on record; the next makes it dead."""
    workspace, body = install()
    standin.set_token_error(body["access_token"], "invalid_auth")
    verify_run()
    refuse_auth_test(standin, code)
    assert verify_run()[1] is not None
    assert stored(workspace) == (Health.UNKNOWN, 1, code)
    answer_again(standin)
    verify_run()
    assert stored(workspace) == (Health.DEAD, 2, "invalid_auth")


def test_the_admin_verify_action_records_a_rate_limit_as_unknown(standin, install, audit_staff):
    workspace, _ = install()
    operator = audit_staff("view_workspace", "change_workspace")
    refuse_auth_test(standin, "ratelimited")
    response = operator.post(
        reverse("admin:installations_workspace_changelist"),
        {"action": "verify_now", ACTION_CHECKBOX_NAME: [workspace.pk], "confirm": "yes"},
        follow=True,
    )
    [message] = [str(m) for m in response.context["messages"]]
    assert "rate-limited" in message and "health unknown" in message
    assert stored(workspace) == (Health.UNKNOWN, 0, "ratelimited")


# --- policy codes: the token is alive ------------------------------------------------------------


@pytest.mark.parametrize("code", ["no_permission", "org_login_required", "ekm_access_denied"])
def test_a_policy_answer_breaks_a_run_of_refusals(standin, install, code):
    workspace, body = install()
    token = body["access_token"]
    standin.set_token_error(token, "invalid_auth")
    verify_run()
    standin.set_token_error(token, code)
    assert verify_run()[1] is None  # Slack answered about the token: nothing to run again for
    assert stored(workspace) == (Health.UNKNOWN, 0, code)
    standin.set_token_error(token, "invalid_auth")
    verify_run()
    assert stored(workspace) == (Health.SUSPECT, 1, "invalid_auth")


# --- a working token of another workspace, org or app ---------------------------------------------


@pytest.mark.parametrize(
    ("choices", "patch"),
    [
        ({}, {"team_id": "T0ELSEWHERE"}),
        ({}, {"app_id": "A0OTHERAPP"}),
        ({}, {"is_enterprise_install": True, "enterprise_id": "E0STANDIN1"}),
        ({"enterprise_id": "E0GRID"}, {"enterprise_id": "E0OTHERORG"}),
        ({"org_wide": True}, {"enterprise_id": "E0OTHERORG", "team_id": "E0OTHERORG"}),
        ({"org_wide": True}, {"is_enterprise_install": False, "team_id": "T0INSIDE"}),
    ],
)
def test_a_token_that_slack_says_is_another_installs_is_dead_here(standin, install, choices, patch):
    workspace, body = install(**choices)
    standin.set_scopes(body["access_token"], "chat:write,commands,users:read")
    scopes_before = Workspace.objects.get(pk=workspace.pk).bot_scopes
    standin.fail_next("auth.test", patch=patch)
    printed, failed = verify_run()
    assert failed is None
    assert FOREIGN_TOKEN in printed
    row = Workspace.objects.get(pk=workspace.pk)
    assert (row.health, row.last_error) == (Health.DEAD, FOREIGN_TOKEN)
    assert row.bot_scopes == scopes_before  # never the other install's scopes
    assert row.bot_token == body["access_token"]  # kept for staff to look into
    event = LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.VERIFY_FAILED).get()
    assert event.detail == f"{FOREIGN_TOKEN}; health dead"


@pytest.mark.parametrize(
    ("choices", "patch"),
    [({}, {"team_id": None}), ({"org_wide": True}, {"enterprise_id": None})],
)
def test_an_answer_that_does_not_say_whose_token_is_unknown(standin, install, choices, patch):
    workspace, _ = install(**choices)
    standin.fail_next("auth.test", patch=patch)
    assert verify_run()[1] is not None
    assert stored(workspace) == (Health.UNKNOWN, 0, "unexpected_response")


def test_the_same_ids_in_an_org_wide_answer_are_ok(standin, install):
    """An org-wide token answers with the org's id as its team_id: that is no other install."""
    workspace, _ = install(org_wide=True)
    assert verify_run()[1] is None
    assert stored(workspace) == (Health.OK, 0, "")
