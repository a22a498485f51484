from django.urls import path

from installations import event_views, install_views, views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("slack/install", install_views.install_page, name="slack-install"),
    path("slack/oauth_redirect", install_views.oauth_redirect, name="slack-oauth-redirect"),
    path("slack/installed", install_views.installed, name="slack-installed"),
    path("slack/events", event_views.events, name="slack-events"),
]
