"""A local Slack stand-in: a loopback HTTP server that plays slack.com (development and tests).

from slackstandin import SlackStandIn
standin = SlackStandIn(client_id="1111.2222", client_secret="...").start()
WebClient(base_url=standin.api_url).oauth_v2_access(...)
standin.stop()
"""

from .authorize import AuthorizeError
from .server import SlackStandIn
from .state import Call

__all__ = ["AuthorizeError", "Call", "SlackStandIn"]
