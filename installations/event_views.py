"""Events API endpoint (placeholder until the lifecycle work lands)."""

from django.http import HttpRequest, HttpResponse


def events(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Not built yet", status=501)
