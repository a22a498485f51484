"""The app's URLs, namespaced ``installations:``; a host mounts them under any prefix.

Every link the app makes is ``reverse("installations:...")``, so it follows the prefix; the
redirect URI (SLACK_REDIRECT_URI) must name the same path as ``installations:oauth-redirect``.
``/slack/events`` is the one Request URL: with SLACK_BOLT_APP set it is served by the developer's
Bolt app (installations/bolt/request_url.py), as are the slash-command and interactivity URLs.
Each view is ``protected`` (installations/middleware.py): the NUL guard and the security headers
hold even in a host project that lists none of our middleware.
"""

from django.urls import path

from installations import metrics_view, views
from installations.middleware import protected

app_name = "installations"

urlpatterns = [
    path("slack/install", protected(views.install_page), name="install"),
    path("slack/oauth_redirect", protected(views.oauth_redirect), name="oauth-redirect"),
    path("slack/installed", protected(views.installed), name="installed"),
    path("slack/events", protected(views.events), name="events"),
    path("slack/commands", protected(views.bolt_only), name="commands"),
    path("slack/interactions", protected(views.bolt_only), name="interactions"),
    path("metrics", protected(metrics_view.metrics), name="metrics"),  # METRICS_TOKEN; else 404
]
