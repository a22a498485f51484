"""Sign in with Slack's URLs: ``path("", include("installations.signin.urls"))`` with
``SLACK_SIGNIN_ENABLED = True``; they also give the admin's login page the button.
"""

from django.contrib import admin
from django.urls import path

from installations.middleware import protected
from installations.signin import views

admin.site.login_template = "installations/signin/admin_login.html"

app_name = "slack_signin"

urlpatterns = [
    path("slack/signin", protected(views.signin_page), name="signin"),
    path("slack/signin/start", protected(views.signin_start), name="start"),
    path("slack/signin/callback", protected(views.signin_callback), name="callback"),
    path("slack/signin/link", protected(views.confirm_link), name="link"),
    path("slack/signin/workspaces", protected(views.my_workspaces), name="workspaces"),
    path("slack/signin/logout", protected(views.signout), name="logout"),
]
