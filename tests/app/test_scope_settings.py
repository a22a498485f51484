"""The scope settings: SLACK_SCOPES and SLACK_USER_SCOPES hold Slack scope names, comma-separated
or as a list. Anything else (a space between two scopes, a capital letter, a stray character, a
value of another type) is system check installations.E018 naming the setting, and the install
page answers "not configured" instead of sending people to Slack with scopes it will refuse."""

from __future__ import annotations

import string
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from installations import checks
from installations.conf import SCOPE_SETTINGS, parse_scopes, scopes_problem, slack_config
from installations.install.cookie import COOKIE_NAME
from installations.models import OAuthState

# Real scope names from Slack's scope list, of every shape it uses.
REAL_SCOPES = (
    "commands", "chat:write", "chat:write.public", "chat:write.customize", "incoming-webhook",
    "channels:history", "users:read.email", "admin.conversations:write", "links.embed:write",
    "remote_files:share", "workflow.steps:execute", "conversations.connect:manage",
    "team.billing:read", "metadata.message:read", "app_configurations:write", "identity.basic",
    "openid", "bot",
)  # fmt: skip
scope_names = st.from_regex(r"[a-z][a-z0-9._:-]{0,30}", fullmatch=True)
# Text that cannot be part of a scope name: what a mistyped setting brings in.
foreign = st.sampled_from([" ", "\t", "\n", "A", "Z", ";", "/", "%", "\u00e9", "\u200b", "*"])


def test_real_scope_names_are_fine() -> None:
    for name in SCOPE_SETTINGS:
        assert scopes_problem(name, ",".join(REAL_SCOPES)) is None
        assert scopes_problem(name, list(REAL_SCOPES)) is None
        assert scopes_problem(name, tuple(REAL_SCOPES)) is None
        assert scopes_problem(name, frozenset(REAL_SCOPES)) is None  # a set works as before
        assert scopes_problem(name, "") is None and scopes_problem(name, None) is None


@given(st.lists(scope_names, max_size=8), st.sampled_from([",", ", ", " ,", ",,"]))
def test_any_scope_names_joined_by_commas_are_fine_and_parse_back(
    scopes: list[str], separator: str
) -> None:
    value = separator.join(scopes)
    assert scopes_problem("SLACK_SCOPES", value) is None
    assert parse_scopes(value) == tuple(dict.fromkeys(scopes))


@given(st.lists(scope_names, min_size=1, max_size=5), st.data())
def test_a_scope_with_anything_foreign_in_it_is_refused_naming_the_setting(
    scopes: list[str], data: st.DataObject
) -> None:
    spoiled = data.draw(st.integers(0, len(scopes) - 1))
    word = scopes[spoiled]
    at = data.draw(st.integers(1, len(word)))
    # Inside the scope's text (never only around it, where spaces are stripped as around commas).
    scopes[spoiled] = word[:at] + data.draw(foreign) + word[at:] + "x"
    for name in SCOPE_SETTINGS:
        problem = scopes_problem(name, ",".join(scopes))
        assert problem is not None and problem.startswith(f"{name} holds ")
        assert "\n" not in problem and len(problem) < 200


@given(
    st.one_of(
        st.integers(),
        st.floats(allow_nan=True),
        st.booleans(),
        st.binary(max_size=20),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
        st.lists(st.one_of(st.integers(), st.none(), st.binary(max_size=3)), min_size=1),
    )
)
def test_a_value_of_another_type_is_refused_never_raises(value: object) -> None:
    problem = scopes_problem("SLACK_USER_SCOPES", value)
    assert problem is not None and problem.startswith("SLACK_USER_SCOPES must ")


@given(st.text(alphabet=string.printable, max_size=60))
def test_any_text_gets_an_answer_and_a_problem_always_names_the_setting(value: str) -> None:
    problem = scopes_problem("SLACK_SCOPES", value)
    assert problem is None or problem.startswith("SLACK_SCOPES ")


@pytest.mark.django_db
@pytest.mark.parametrize("name", SCOPE_SETTINGS)
@pytest.mark.parametrize("value", ["commands chat:write", "Chat:write", "commands;chat:write"])
def test_a_wrong_scope_setting_is_check_e018_and_refuses_installs(
    settings: Any, client: Client, name: str, value: str
) -> None:
    setattr(settings, name, value)
    found = checks.check_scope_settings()
    assert [(m.id, m.msg.split(" ")[0]) for m in found] == [("installations.E018", name)]
    assert slack_config().missing_variables == [name]

    page = client.get("/slack/install", secure=True)
    assert page.status_code == 503
    body = page.content.decode()
    assert name in body and "oauth/v2/authorize" not in body
    assert COOKIE_NAME not in page.cookies
    with pytest.raises(CommandError, match=name):
        call_command("slack_install_url")
    assert not OAuthState.objects.exists()


def test_the_default_and_the_project_settings_pass_the_check() -> None:
    assert checks.check_scope_settings() == []
    assert slack_config().unusable == ()
