"""Request guards that run before any view: input no view or database can use is refused with 400.

PostgreSQL cannot store or compare text holding a NUL byte (psycopg raises ``ValueError``), so a
NUL in a query parameter, a cookie or the path would otherwise surface as a 500 from whichever
query first touches it (admin filters and searches, the session lookup). Django's form fields
already refuse NUL (``ProhibitNullCharactersValidator``); raw ``request.GET`` values and cookies
are not forms, so the rule is applied here, once, for every view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse

NUL = "\x00"


def _any_nul(values: Iterable[str]) -> bool:
    return any(NUL in value for value in values)


def holds_nul(request: HttpRequest) -> bool:
    """Whether the path, a query parameter (name or value) or a cookie holds a NUL byte."""
    if NUL in request.path:
        return True
    query = request.GET
    if _any_nul(query.keys()) or any(_any_nul(query.getlist(key)) for key in query):
        return True
    return _any_nul(request.COOKIES.keys()) or _any_nul(request.COOKIES.values())


class RejectNulBytesMiddleware:
    """Answers 400 (Django's own bad-request page) when ``holds_nul`` finds a NUL byte."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if holds_nul(request):
            raise BadRequest("a NUL byte in the path, a query parameter or a cookie")
        return self.get_response(request)
