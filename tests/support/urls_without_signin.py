"""A URLconf with the install flow but without Sign in with Slack (test_page_tags_cached.py)."""

from django.urls import include, path

urlpatterns = [path("", include("installations.urls"))]
