"""``SlackWebClient.api_call`` sends what slack_sdk's own WebClient sends: the same fields (form
or JSON body, values without None, True / False as "1" / "0", the client's team_id), the same
Bearer token or HTTP Basic credentials, the same user agent. Both clients call the stand-in and
its records of the two requests are compared."""

from __future__ import annotations

import secrets
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from installations.exceptions import SlackInstallError
from installations.slack.client import SlackWebClient
from slackstandin import SlackStandIn

NAMES = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12)
VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
FIELDS = st.dictionaries(NAMES.filter(lambda n: n != "token"), VALUES, max_size=5)


def received(standin: SlackStandIn, client: WebClient, **kwargs: Any) -> tuple[Any, ...]:
    """What the stand-in recorded of ``client.api_call("api.test", **kwargs)``."""
    before = len(standin.calls_to("api.test"))
    try:
        client.api_call("api.test", **kwargs)
    except (SlackApiError, SlackInstallError):
        pass  # the answer does not matter here, only the request
    (call,) = standin.calls_to("api.test")[before:]
    return (
        call.params,
        call.token,
        call.basic_auth,
        call.headers.get("content-type", "").split(";")[0],
        call.headers.get("user-agent"),
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=FIELDS,
    where=st.sampled_from(["json", "params", "data", "nowhere"]),
    token=st.sampled_from([None, "argument", "client"]),
    basic=st.booleans(),
    team_id=st.sampled_from([None, "T0TEAM"]),
)
def test_our_request_is_slack_sdks(
    standin: SlackStandIn,
    fields: dict[str, Any],
    where: str,
    token: str | None,
    basic: bool,
    team_id: str | None,
) -> None:
    fake = f"xoxb-fake-{secrets.token_hex(6)}"
    options: dict[str, Any] = {
        "base_url": standin.api_url,
        "team_id": team_id,
        "retry_handlers": [],
    }
    options["token"] = fake if token == "client" else None
    kwargs: dict[str, Any] = {}
    values = {**fields, **({"token": fake} if token == "argument" else {})}
    if where != "nowhere":
        kwargs[where] = values
    if basic:
        kwargs["auth"] = {"client_id": "1111.2222", "client_secret": f"fake-{secrets.token_hex(4)}"}
    stock = received(standin, WebClient(**options), **_copies(kwargs))
    ours = received(
        standin, SlackWebClient(revoke=lambda tokens, label: None, **options), **_copies(kwargs)
    )
    assert ours == stock


def _copies(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Fresh dicts: slack_sdk pops ``token`` out of the ones it is given."""
    return {k: dict(v) for k, v in kwargs.items()}
