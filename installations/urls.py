"""The app's URLs, namespaced ``installations:``; a host mounts them under any prefix.

SLACK_REDIRECT_URI must name the path of ``installations:oauth-redirect``. Each view is
``protected`` (middleware.py), whatever middleware the host lists.
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
