"""A URLconf with the install flow but without Sign in with Slack (tests of the page tags)."""

from django.urls import include, path

urlpatterns = [path("", include("installations.urls"))]
