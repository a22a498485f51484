"""A URLconf mounting the install flow under /elsewhere/ (tests/install/: page paths)."""

from django.urls import include, path

urlpatterns = [path("elsewhere/", include("installations.urls"))]
