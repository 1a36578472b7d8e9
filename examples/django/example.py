"""A Django app that lets Gatehouse do its accounts, through the gatehouse-sdk package, in one file.

- `GatehouseMiddleware` asks Gatehouse who each request is (`request.gatehouse`).
- `/account` is `@gatehouse_required`: a browser that is not signed in goes to Gatehouse's hosted
  sign-in and comes back; an API client gets 401; an outage is a 503.
- `POST /webhooks/gatehouse` receives Gatehouse's webhooks, verified with `verify_webhook`.

Run: GATEHOUSE_URL=http://127.0.0.1:8080 GATEHOUSE_WEBHOOK_SECRET=whsec_... python example.py runserver
"""

import os
import sys

from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret"),
    MIDDLEWARE=["gatehouse.django.GatehouseMiddleware"],
    GATEHOUSE_URL=os.environ.get("GATEHOUSE_URL", "http://127.0.0.1:8080"),
)

from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.utils.html import escape  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402
from django.views.decorators.http import require_POST  # noqa: E402

from gatehouse import WebhookVerificationError, verify_webhook  # noqa: E402
from gatehouse.django import gatehouse_required  # noqa: E402


def home(request):
    return HttpResponse('<h1>Example app</h1><p><a href="/account">Your account</a></p>')


@gatehouse_required
def account(request):
    user = request.gatehouse.user
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"user": user})
    return HttpResponse(f"<h1>Your account</h1><p>Signed in as <strong>{escape(user['email'])}</strong>.</p>")


handled = set()


@csrf_exempt
@require_POST
def webhook(request):
    secret = os.environ.get("GATEHOUSE_WEBHOOK_SECRET")
    if not secret:
        return JsonResponse({"error": "GATEHOUSE_WEBHOOK_SECRET is not set"}, status=503)
    try:
        event = verify_webhook(request.body, request.headers, secret)
    except WebhookVerificationError:
        return JsonResponse({"error": "invalid signature"}, status=400)
    if event.id not in handled:
        handled.add(event.id)
        print(f"webhook {event.type} ({event.id})", flush=True)
    return HttpResponse(status=204)


urlpatterns = [path("", home), path("account", account), path("webhooks/gatehouse", webhook)]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
