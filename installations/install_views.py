"""Install page, OAuth redirect handler and success page (placeholder until the flow lands)."""

from django.http import HttpRequest, HttpResponse


def install_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Not built yet", status=501)


oauth_redirect = installed = install_page
