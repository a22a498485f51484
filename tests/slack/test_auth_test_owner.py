"""Whose token auth.test says it is (slack/answers.py ``owner_unsaid`` and ``foreign_fields``),
the check the install flow, slack_add_token and slack_verify share (docs/slack-protocol.md §5).

Answers are read by the real parser (``auth_test_answer``), shaped as Slack sends them: a
workspace token names its team (and its org inside Enterprise Grid); an org-wide token names
the org, with the org's id as its ``team_id``; ``app_id`` and ``is_enterprise_install`` may be
left out, as in Slack's own example.
"""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from installations.slack.answers import (
    TokenOwner,
    auth_test_answer,
    foreign_fields,
    owner_unsaid,
)

FAST = settings(max_examples=300, deadline=None, derandomize=True)
ids = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=12)


@st.composite
def owners(draw: st.DrawFn) -> TokenOwner:
    org_wide = draw(st.booleans())
    return TokenOwner(
        app_id="A" + draw(ids),
        team_id=None if org_wide else "T" + draw(ids),
        enterprise_id="E" + draw(ids) if org_wide or draw(st.booleans()) else None,
        is_enterprise_install=org_wide,
    )


def answer_for(owner: TokenOwner, *, with_app: bool, with_flag: bool) -> dict[str, Any]:
    """auth.test as Slack answers it for a bot token of ``owner``."""
    body: dict[str, Any] = {
        "ok": True,
        "url": "https://example.slack.com/",
        "team_id": owner.enterprise_id if owner.is_enterprise_install else owner.team_id,
        "user_id": "U0BOT",
        "bot_id": "B0BOT",
    }
    if owner.enterprise_id:
        body["enterprise_id"] = owner.enterprise_id
    if with_app:
        body["app_id"] = owner.app_id
    if with_flag or owner.is_enterprise_install:
        body["is_enterprise_install"] = owner.is_enterprise_install
    return body


@FAST
@given(owners(), st.booleans(), st.booleans())
def test_slacks_answer_for_the_owners_token_names_no_other(
    owner: TokenOwner, with_app: bool, with_flag: bool
) -> None:
    tested = auth_test_answer(answer_for(owner, with_app=with_app, with_flag=with_flag))
    assert owner_unsaid(tested, org_wide=owner.is_enterprise_install) == []
    assert foreign_fields(tested, owner) == []


@FAST
@given(owners(), st.sampled_from(["app_id", "team_id", "enterprise_id"]), ids)
def test_another_id_in_the_answer_is_named(owner: TokenOwner, field: str, other: str) -> None:
    body = answer_for(owner, with_app=True, with_flag=True)
    if owner.is_enterprise_install and field == "team_id":
        field = "enterprise_id"  # an org-wide token's team is the org
    assume(body.get(field) is not None and body[field] != field[0].upper() + other)
    body[field] = field[0].upper() + other
    if owner.is_enterprise_install:
        body["team_id"] = body["enterprise_id"]
    assert field in foreign_fields(auth_test_answer(body), owner)


@FAST
@given(owners())
def test_a_token_of_the_other_kind_is_named(owner: TokenOwner) -> None:
    """A workspace token where an org-wide one belongs, and the reverse."""
    body = answer_for(owner, with_app=True, with_flag=True)
    body["is_enterprise_install"] = not owner.is_enterprise_install
    if owner.is_enterprise_install:
        body["team_id"] = "T0INSIDE"  # a workspace of the org
    else:
        body["enterprise_id"] = owner.enterprise_id or "E0ANORG"
    assert foreign_fields(auth_test_answer(body), owner) != []


@FAST
@given(owners())
def test_an_answer_without_the_workspace_or_org_is_unsaid(owner: TokenOwner) -> None:
    body = answer_for(owner, with_app=True, with_flag=True)
    body.pop("enterprise_id" if owner.is_enterprise_install else "team_id")
    unsaid = owner_unsaid(auth_test_answer(body), org_wide=owner.is_enterprise_install)
    assert unsaid == ["enterprise_id" if owner.is_enterprise_install else "team_id"]


@FAST
@given(owners())
def test_what_the_owner_does_not_know_is_not_compared(owner: TokenOwner) -> None:
    """A row stored without an app id (or a team id) matches any app (or team)."""
    body = answer_for(owner, with_app=True, with_flag=True)
    body["app_id"] = "A0SOMEAPP"
    unknown = TokenOwner(None, owner.team_id, owner.enterprise_id, owner.is_enterprise_install)
    assert foreign_fields(auth_test_answer(body), unknown) == []
