"""Django 5: add `"gatehouse.django.GatehouseMiddleware"` to `MIDDLEWARE`; every request then has
`request.gatehouse` (an `Auth`, or `None`) and `request.gatehouse_error` (an outage, or `None`).
`@gatehouse_required` sends a browser to the hosted sign-in with `return_to` set to the page,
answers an API client 401, and answers 503 during an outage. The URL comes from the
`GATEHOUSE_URL` setting or environment variable.
"""

import functools
import os
from typing import Any, Callable, Optional

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

from ._transport import GatehouseUnavailable
from .client import Gatehouse

_client: Optional[Gatehouse] = None


def client() -> Gatehouse:
    global _client
    if _client is None:
        _client = Gatehouse(getattr(settings, "GATEHOUSE_URL", None) or os.environ.get("GATEHOUSE_URL"))
    return _client


class GatehouseMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.gatehouse, request.gatehouse_error = None, None
        try:
            request.gatehouse = client().session(
                cookie=request.headers.get("Cookie"),
                authorization=request.headers.get("Authorization"),
                user_agent=request.headers.get("User-Agent"),
                client_ip=request.META.get("REMOTE_ADDR"),
            )
        except GatehouseUnavailable as error:
            request.gatehouse_error = error
        return self.get_response(request)


def _wants_html(request: HttpRequest) -> bool:
    return "text/html" in request.headers.get("Accept", "")


def gatehouse_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "gatehouse_error", None) is not None:
            body = {"status": 503, "code": "auth_unavailable", "detail": "sign-in cannot be checked right now"}
            return JsonResponse(body, status=503, content_type="application/problem+json")
        if getattr(request, "gatehouse", None) is None:
            if _wants_html(request):
                return redirect(client().urls.sign_in(request.build_absolute_uri()))
            body = {"status": 401, "code": "unauthenticated", "detail": "sign in first"}
            return JsonResponse(body, status=401, content_type="application/problem+json")
        return view(request, *args, **kwargs)

    return wrapped
