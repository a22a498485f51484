from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("integrations/", include("installations.urls")),
    path("integrations/", include("installations.signin.urls")),
    path("dashboard/", lambda request: HttpResponse("host dashboard")),
]
