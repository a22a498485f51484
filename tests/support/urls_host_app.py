"""A host project's URLconf: the app's pages, Sign in with Slack and the admin, nothing else
(test_headers_on_every_answer.py lists none of our middleware with it)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("installations.urls")),
    path("", include("installations.signin.urls")),
]
