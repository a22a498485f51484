"""The app's URLs, namespaced ``installations:``; a host mounts them under any prefix.

Every link the app makes is ``reverse("installations:...")``, so it follows the prefix; the
redirect URI (SLACK_REDIRECT_URI) must name the same path as ``installations:oauth-redirect``.
``/slack/events`` is the one Request URL: with SLACK_BOLT_APP set it is served by the developer's
Bolt app (installations/bolt/request_url.py), as are the slash-command and interactivity URLs.
"""

from django.urls import path

from installations import metrics_view, views

app_name = "installations"

urlpatterns = [
    path("slack/install", views.install_page, name="install"),
    path("slack/oauth_redirect", views.oauth_redirect, name="oauth-redirect"),
    path("slack/installed", views.installed, name="installed"),
    path("slack/events", views.events, name="events"),
    path("slack/commands", views.bolt_only, name="commands"),
    path("slack/interactions", views.bolt_only, name="interactions"),
    path("metrics", metrics_view.metrics, name="metrics"),  # METRICS_TOKEN; else 404
]
