"""Signing in with Slack while someone is signed in here links nothing until they confirm it:
a page naming both accounts, a CSRF-checked POST; cancelling leaves both as they were."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from installations.signin import linking
from installations.signin.models import SlackIdentity
from slackstandin import SlackStandIn

pytestmark = pytest.mark.django_db

LINK = "/slack/signin/link"


def signed_in_as(username: str, **fields: Any) -> tuple[Any, Client]:
    user = get_user_model().objects.create_user(username, password="pw-" + "x" * 20, **fields)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return user, client


def csrf_of(client: Client) -> str:
    page = client.get(LINK)
    assert page.status_code == 200
    return str(page.context["csrf_token"])


def test_the_page_names_both_accounts_and_shows_no_token(
    client_signin: Any, signin: SlackStandIn
) -> None:
    _alice, client = signed_in_as("alice")
    assert client_signin(client, user_id="U0STANDIN2")["Location"] == LINK
    page = client.get(LINK)
    text = page.content.decode()
    assert page.status_code == 200 and page["Cache-Control"].startswith("max-age=0")
    assert "alice" in text and "U0STANDIN2" in text and "Second Person" in text
    assert 'method="post"' in text and "csrfmiddlewaretoken" in text
    access = signin.calls_to("auth.revoke")[0].token
    assert access is not None
    assert access not in text and "eyJ" not in text and "xox" not in text
    assert not SlackIdentity.objects.exists()


def test_confirming_links_the_identity_to_the_signed_in_account(client_signin: Any) -> None:
    alice, client = signed_in_as("alice")
    client_signin(client, user_id="U0STANDIN2", next="/admin/")
    linked = client.post(LINK, {"action": "link", "csrfmiddlewaretoken": csrf_of(client)})
    assert linked.status_code == 302 and linked["Location"] == "/admin/"
    assert SlackIdentity.objects.get().user == alice
    assert client.session["_auth_user_id"] == str(alice.pk)
    assert client.get(LINK).status_code == 400  # used once


def test_cancelling_leaves_both_as_they_were(client_signin: Any) -> None:
    alice, client = signed_in_as("alice")
    client_signin(client, user_id="U0STANDIN2")
    cancelled = client.post(LINK, {"action": "cancel", "csrfmiddlewaretoken": csrf_of(client)})
    assert cancelled.status_code == 302
    assert not SlackIdentity.objects.exists()
    assert get_user_model().objects.count() == 1
    assert client.session["_auth_user_id"] == str(alice.pk)  # still signed in as before
    assert client.get(LINK).status_code == 400 and linking.SESSION_KEY not in client.session
    # The Slack person signing in on their own later gets an account of their own.
    assert client_signin(Client(), user_id="U0STANDIN2")["Location"] == "/slack/signin/workspaces"
    assert SlackIdentity.objects.get().user != alice


def test_a_post_without_the_csrf_token_links_nothing(client_signin: Any) -> None:
    _alice, client = signed_in_as("alice")
    client_signin(client, user_id="U0STANDIN2")
    assert client.post(LINK, {"action": "link"}).status_code == 403
    assert not SlackIdentity.objects.exists()


def test_only_the_account_that_saw_the_page_can_confirm_it(client_signin: Any) -> None:
    _alice, client = signed_in_as("alice")
    client_signin(client, user_id="U0STANDIN2")
    bob = get_user_model().objects.create_user("bob")
    client.force_login(bob)  # another person signs in on that browser meanwhile
    refused = client.get(LINK)
    assert refused.status_code == 400 and b"no_pending_link" in refused.content
    assert not SlackIdentity.objects.exists()


def test_the_wait_ends_with_the_sign_in_link_lifetime(client_signin: Any) -> None:
    _alice, client = signed_in_as("alice")
    client_signin(client, user_id="U0STANDIN2")
    session = client.session
    waiting = session[linking.SESSION_KEY]
    assert time.time() < waiting["until"] <= time.time() + 600  # a sign-in link's lifetime
    for ended in (time.time() - 1, float("nan")):  # past, or no time at all
        session[linking.SESSION_KEY] = {**waiting, "until": ended}
        session.save()
        assert client.get(LINK).status_code == 400
    assert not SlackIdentity.objects.exists()


def test_a_workspace_not_allowed_is_refused_before_asking(
    client_signin: Any, settings: Any
) -> None:
    settings.SLACK_SIGNIN_ALLOWED_TEAMS = ["T0ALLOWED"]
    _alice, client = signed_in_as("alice")
    refused = client_signin(client, user_id="U0STANDIN2")
    assert refused.status_code == 403 and b"team_not_allowed" in refused.content
    assert linking.SESSION_KEY not in client.session


def test_an_identity_already_linked_to_this_account_signs_in_without_asking(
    client_signin: Any,
) -> None:
    alice, client = signed_in_as("alice")
    client_signin(client, user_id="U0STANDIN2")
    client.post(LINK, {"action": "link", "csrfmiddlewaretoken": csrf_of(client)})
    again = client_signin(client, user_id="U0STANDIN2")
    assert again["Location"] == "/slack/signin/workspaces"
    assert SlackIdentity.objects.get().user == alice


def test_without_a_waiting_identity_there_is_nothing_to_confirm(signin: Any) -> None:
    _alice, client = signed_in_as("alice")
    assert client.get(LINK).status_code == 400
    anonymous = Client().get(LINK)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/slack/signin?")


FIELD_VALUES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
STORED = (
    st.fixed_dictionaries(
        {
            "user": st.sampled_from(["1", "2", 1]),
            "until": st.floats(allow_nan=True) | st.integers() | st.just(time.time() + 60),
            "identity": st.dictionaries(st.sampled_from(sorted(linking.FIELDS)), FIELD_VALUES)
            | FIELD_VALUES,
            "next": FIELD_VALUES,
        }
    )
    | FIELD_VALUES
)


@given(stored=STORED)
def test_whatever_the_session_holds_is_a_waiting_identity_or_none(stored: Any) -> None:
    alice = SimpleNamespace(pk=1)
    request: Any = SimpleNamespace(session={linking.SESSION_KEY: stored}, user=alice)
    found = linking.pending(request)
    if found is not None:
        assert stored["user"] == "1" and isinstance(found.next_url, str)
        assert stored["until"] >= time.time()  # not expired, and a number (NaN is not)
        assert all(
            isinstance(getattr(found.slack_user, name), bool if kind == "bool" else str)
            for name, kind in linking.FIELDS.items()
        )
