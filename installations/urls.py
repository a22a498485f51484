from django.urls import path

from installations import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("slack/install", views.install_page, name="slack-install"),
    path("slack/oauth_redirect", views.oauth_redirect, name="slack-oauth-redirect"),
    path("slack/installed", views.installed, name="slack-installed"),
    path("slack/events", views.events, name="slack-events"),
]
