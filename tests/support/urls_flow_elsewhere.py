"""A URLconf mounting the install flow under /elsewhere/ (tests/install/test_flow_paths.py)."""

from django.urls import include, path

urlpatterns = [path("elsewhere/", include("installations.urls"))]
