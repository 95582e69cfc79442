"""Project-level pages: health, the benchmark baseline, the account hub."""

import logging

import redis
from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from marketplace.tasks import ping_task

logger = logging.getLogger(__name__)


@require_GET
@never_cache
def healthz(request):
    """200 when the database and Redis answer; with ?worker=1 also a Celery round trip.

    The worker check is for staff: each call queues a task and waits up to 5 s for it.
    """
    want_worker = request.GET.get("worker") == "1"
    if want_worker and not request.user.is_staff:
        return JsonResponse(
            {"status": "error", "message": "The worker check is for staff; log in as staff."}, status=403
        )
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        logger.warning("healthz database check failed", extra={"error": str(exc)})
        checks["database"] = "error"
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
        checks["redis"] = "ok"
    except redis.RedisError as exc:
        logger.warning("healthz redis check failed", extra={"error": str(exc)})
        checks["redis"] = "error"
    if want_worker and checks["redis"] == "ok":
        try:
            result = ping_task.delay("healthz").get(timeout=5)
            checks["worker"] = "ok" if result.get("pong") else "error"
            checks["worker_answered_at"] = result.get("at", "")
        except CeleryTimeoutError:
            checks["worker"] = "no worker answered within 5 s"
    healthy = all(v == "ok" for k, v in checks.items() if k != "worker_answered_at")
    return JsonResponse({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)


@require_GET
def baseline(request):
    """The trivial view every benchmark compares against: no database, no template."""
    return HttpResponse(b"ok", content_type="text/plain")


@login_required
def account(request):
    return render(request, "marketplace/account.html")


def csrf_failure(request, reason=""):
    return render(
        request,
        "marketplace/error.html",
        {
            "title": "The form expired",
            "message": "This form was open too long or came from another site. Go back, reload the page and try again.",
        },
        status=403,
    )


def _api_error(request, status: int, code: str, message: str) -> JsonResponse | None:
    # API clients read the API's one error format, also for a path no route matches.
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"status": status, "code": code, "message": message}}, status=status)
    return None


def error_404(request, exception=None):
    if api := _api_error(request, 404, "not_found", "Not found."):
        return api
    return render(
        request,
        "marketplace/error.html",
        {"title": "Not found", "message": "There is nothing here. It may have been removed."},
        status=404,
    )


def error_500(request):
    if api := _api_error(request, 500, "error", "Something went wrong. Please try again."):
        return api
    return render(
        request,
        "marketplace/error.html",
        {"title": "Something went wrong", "message": "We could not finish this. Please try again."},
        status=500,
    )
