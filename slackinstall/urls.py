from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from slackinstall.healthz import healthz
from slackinstall.readiness import readyz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),  # liveness: the database answers
    path("readyz", readyz, name="readyz"),  # readiness: database, shared cache, migrations
    # The app's URLs are namespaced ("installations:...") and work under any prefix; the example
    # project mounts them at the root, so SLACK_REDIRECT_URI ends in /slack/oauth_redirect.
    path("", include("installations.urls")),
    path("", include("installations.signin.urls")),  # Sign in with Slack (SLACK_SIGNIN_ENABLED)
    # The front door (the admin's "View site" links here): the install page.
    path("", RedirectView.as_view(pattern_name="installations:install"), name="front-door"),
]
