"""``openid.connect.token``: the code exchanged once, on the hardened ``single_use_client``.

The answer's shape is checked here; its access token is never kept (the flow revokes it at once).
An answer the client cannot use at all (not JSON, not HTTP 200, ``ok`` not true) is
``UnexpectedAnswer``, and the client has revoked whatever token it carried.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.views.decorators.debug import sensitive_variables
from slack_sdk.errors import SlackApiError

from installations.conf import slack_config
from installations.exceptions import SlackInstallError, SlackRefused, SlackUnavailable
from installations.signin.conf import signin_config
from installations.slack import api as slack_api

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenAnswer:
    id_token: str  # "" when the answer held none that is text
    access_token: str  # "" likewise

    def __repr__(self) -> str:  # never printed whole
        return "TokenAnswer(id_token=..., access_token=...)"


@sensitive_variables("code", "response", "data")
def exchange_code(code: str) -> TokenAnswer:
    """Spend ``code`` at openid.connect.token; SlackRefused / SlackUnavailable. The caller
    revokes ``access_token`` and checks ``id_token`` (``flow.finish_signin``)."""
    config = slack_config()
    client = slack_api.single_use_client()
    try:
        response = client.openid_connect_token(
            client_id=config.client_id,
            client_secret=config.client_secret,
            code=code,
            redirect_uri=signin_config().redirect_uri,
        )
    except SlackApiError as exc:
        status = exc.response.status_code
        if status == 429:
            raise SlackUnavailable(reason="ratelimited") from None
        if status >= 500:
            raise SlackUnavailable(reason="slack_http_error") from None
        raise SlackRefused(reason=str(exc.response.get("error"))) from None
    data = response.data if isinstance(response.data, dict) else {}
    id_token, access_token = data.get("id_token"), data.get("access_token")
    return TokenAnswer(
        id_token if isinstance(id_token, str) else "",
        access_token if isinstance(access_token, str) else "",
    )


@sensitive_variables("token")
def revoke_quietly(token: str) -> None:
    """auth.revoke the sign-in's user token: we keep no Slack credential for a signed-in person."""
    if not token:
        return
    try:
        slack_api.revoke(token)
    except SlackInstallError as exc:
        logger.info("sign-in token not revoked reason=%s", exc.reason)
