import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments import services

logger = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 512 * 1024


@csrf_exempt  # The one CSRF-exempt view: Stripe signs the body instead (verified below).
@require_POST
def stripe_webhook(request):
    if len(request.body) > MAX_WEBHOOK_BYTES:
        return JsonResponse({"error": "The event is too large."}, status=413)
    try:
        event, created = services.webhook_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except services.WebhookRejected as exc:
        logger.warning("stripe webhook rejected", extra={"reason": exc.message})
        return JsonResponse({"error": exc.message}, status=400)
    return JsonResponse({"received": True, "duplicate": not created, "id": event.stripe_id})
