"""Staff through Slack (mapping on and off, re-evaluated at each sign-in); the password switch."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from installations.signin.models import SlackIdentity

pytestmark = pytest.mark.django_db


def staff_settings(settings: Any, **values: Any) -> None:
    settings.SLACK_SIGNIN_STAFF_TEAMS = ["T0STANDIN1"]
    settings.SLACK_SIGNIN_STAFF_GROUP = "Slack staff"
    for name, value in values.items():
        setattr(settings, f"SLACK_SIGNIN_{name.upper()}", value)


def the_user() -> Any:
    return SlackIdentity.objects.get().user


def test_staff_mapping_off_makes_nobody_staff(client_signin: Any) -> None:
    client_signin(Client())
    assert not the_user().is_staff


def test_a_member_of_a_staff_team_becomes_staff_with_the_group(
    client_signin: Any, settings: Any
) -> None:
    staff_settings(settings)
    client = Client()
    assert client_signin(client, next="/admin/")["Location"] == "/admin/"
    user = the_user()
    assert user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == ["Slack staff"]
    assert client.get("/admin/").status_code == 200  # the admin lets them in


def test_staff_users_and_email_domain_narrow_the_team(client_signin: Any, settings: Any) -> None:
    staff_settings(settings, staff_users=["U0STANDIN2"], staff_email_domain="corp.example")
    client_signin(Client())  # U0STANDINUSR, installer@standin.example: neither
    client_signin(Client(), user_id="U0STANDIN2")  # named
    client_signin(Client(), user_id="U0STANDIN3", email="ops@corp.example")  # domain
    client_signin(Client(), user_id="U0STANDIN4", team_id="T0OTHER", email="x@corp.example")
    staff = {i.slack_user_id: i.user.is_staff for i in SlackIdentity.objects.all()}
    assert staff == {
        "U0STANDINUSR": False,
        "U0STANDIN2": True,
        "U0STANDIN3": True,
        "U0STANDIN4": False,  # the domain matches, but not from a staff team
    }


def test_staff_is_re_evaluated_at_each_sign_in(client_signin: Any, settings: Any) -> None:
    staff_settings(settings)
    client_signin(Client())
    assert the_user().is_staff
    settings.SLACK_SIGNIN_STAFF_TEAMS = ["T0SOMEWHERE"]  # removed from the list
    client_signin(Client())
    user = the_user()
    assert not user.is_staff
    assert not user.groups.exists()
    assert Group.objects.filter(name="Slack staff").exists()


def test_staff_made_by_hand_is_not_taken_away(client_signin: Any) -> None:
    admin = get_user_model().objects.create_superuser("root", password="pw-" + "x" * 20)
    client = Client()
    client.force_login(admin)
    client_signin(client)  # links; staff mapping off
    admin.refresh_from_db()
    assert admin.is_staff and admin.is_superuser


def test_password_login_off_refuses_passwords_and_hides_the_form(
    signin: Any, settings: Any
) -> None:
    get_user_model().objects.create_superuser("root", password="pw-" + "x" * 20)
    assert authenticate(username="root", password="pw-" + "x" * 20) is not None
    page = Client().get("/admin/login/")
    assert b"Sign in with Slack" in page.content and b'name="password"' in page.content

    settings.SLACK_SIGNIN_PASSWORD_LOGIN = False
    assert authenticate(username="root", password="pw-" + "x" * 20) is None
    page = Client().get("/admin/login/?next=/admin/")
    assert b"Sign in with Slack" in page.content
    assert b'name="password"' not in page.content
    assert b"/slack/signin/start?next=%2Fadmin%2F" in page.content
    posted = Client().post(
        "/admin/login/", {"username": "root", "password": "pw-" + "x" * 20, "next": "/admin/"}
    )
    assert posted.status_code == 200 and "_auth_user_id" not in posted.wsgi_request.session


def test_password_login_off_has_no_effect_with_sign_in_switched_off(settings: Any) -> None:
    settings.SLACK_SIGNIN_ENABLED = False
    settings.SLACK_SIGNIN_PASSWORD_LOGIN = False
    get_user_model().objects.create_user("u", password="pw-" + "x" * 20)
    assert authenticate(username="u", password="pw-" + "x" * 20) is not None


def test_a_hand_made_staff_user_keeps_staff_when_the_mapping_drops_them(
    client_signin: Any, settings: Any
) -> None:
    """Staff made by hand, who link a Slack identity while the mapping names them, were staff
    before: the identity did not grant it, so the mapping cannot take it away later."""
    staff_settings(settings)
    person = get_user_model().objects.create_user("ops", password="pw-" + "x" * 20, is_staff=True)
    client = Client()
    client.force_login(person)
    assert client_signin(client)["Location"] == "/slack/signin/link"
    client.post("/slack/signin/link", {"action": "link"})
    assert not SlackIdentity.objects.get().granted_staff
    settings.SLACK_SIGNIN_STAFF_TEAMS = ["T0SOMEWHERE"]  # the mapping no longer names them
    assert client_signin(Client())["Location"] == "/slack/signin/workspaces"
    person.refresh_from_db()
    assert person.is_staff


def test_staff_granted_by_one_identity_is_ours_for_the_next(
    client_signin: Any, settings: Any
) -> None:
    staff_settings(settings, staff_teams=["T0STANDIN1", "T0SECOND"])
    client = Client()
    client_signin(client)  # staff through Slack
    assert client_signin(client, team_id="T0SECOND")["Location"] == "/slack/signin/link"
    client.post("/slack/signin/link", {"action": "link"})
    assert SlackIdentity.objects.filter(granted_staff=True).count() == 2
    settings.SLACK_SIGNIN_STAFF_TEAMS = ["T0ELSEWHERE"]
    client_signin(Client())
    client_signin(Client(), team_id="T0SECOND")
    assert not the_user_of("T0SECOND").is_staff  # both identities stopped granting it


def the_user_of(team_id: str) -> Any:
    return SlackIdentity.objects.get(team_id=team_id).user


LOOKALIKE = "a" * 241 + "@corp.example.attacker.example"  # 271 characters: over the column's 254


@pytest.mark.parametrize("email", [LOOKALIKE, "a" * 312, "ops@corp.example@evil.example"])
def test_an_email_that_is_no_whole_address_is_never_kept_nor_matched_for_staff(
    client_signin: Any, settings: Any, email: str
) -> None:
    staff_settings(settings, staff_email_domain="corp.example")
    response = client_signin(Client(), email=email)
    assert response.status_code == 302 and response["Location"] == "/slack/signin/workspaces"
    identity = SlackIdentity.objects.get()
    assert not identity.user.is_staff and not identity.granted_staff
    assert identity.email == "" and identity.user.email == ""
