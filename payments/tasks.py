import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from payments import services
from payments.models import Payout, Refund, WebhookEvent

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def webhook_event_handle_task(event_id: int) -> str:
    return services.webhook_event_handle(event_id=event_id)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=8)
def refund_submit_task(refund_id: int) -> str:
    return services.refund_submit(refund_id=refund_id).status


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=8)
def payment_intent_refund_whole_task(payment_intent_id: str) -> None:
    services.payment_intent_refund_whole(payment_intent_id=payment_intent_id)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=8)
def payment_intent_cancel_task(group_id: int) -> str:
    return services.payment_intent_cancel(group_id=group_id)


@shared_task
def payouts_run_task() -> int:
    """Beat: open this run's payouts; their transfers go out in batches after commit."""
    return len(services.payouts_run())


@shared_task(acks_late=True)
def payouts_submit_task(payout_ids: list[int]) -> dict:
    """One message per PAYOUT_SUBMIT_BATCH payouts. Safe twice: a payout no longer in transit is skipped
    and each transfer carries the payout's own idempotency key."""
    return services.payouts_submit(payout_ids=payout_ids)


# Orders per settlement message: 10,000 orders (40,000 lines) is one SQL transaction of
# under a second; bigger batches gained little more, and a million lines take 25 messages.
SETTLE_BATCH_ORDERS = 10_000


@shared_task(acks_late=True)
def orders_settle_due_task(batch_size: int = SETTLE_BATCH_ORDERS) -> int:
    """Settle one batch; re-enqueue while a full batch came back (more work remains), its
    orders settled or put on hold. Returns how many were settled."""
    batch = services.orders_settle_due_batch(batch_size=batch_size)
    if batch.taken == batch_size:
        orders_settle_due_task.delay(batch_size)
    return batch.settled


@shared_task
def payments_sweep_task() -> dict:
    """Catch what a lost message missed: unhandled webhooks, unsent refunds and payouts."""
    cutoff = timezone.now() - timedelta(minutes=2)
    events = list(
        WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED, received_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:500]
    )
    refunds = list(
        Refund.objects.filter(status=Refund.Status.PENDING, created_at__lt=cutoff).values_list("pk", flat=True)[:500]
    )
    payouts = list(
        Payout.objects.filter(status=Payout.Status.IN_TRANSIT, created_at__lt=cutoff).values_list("pk", flat=True)[
            :5000
        ]
    )
    for pk in events:
        webhook_event_handle_task.delay(pk)
    for pk in refunds:
        refund_submit_task.delay(pk)
    for start in range(0, len(payouts), services.PAYOUT_SUBMIT_BATCH):
        payouts_submit_task.delay(payouts[start : start + services.PAYOUT_SUBMIT_BATCH])
    return {"events": len(events), "refunds": len(refunds), "payouts": len(payouts)}


@shared_task
def reconcile_task() -> dict:
    report = services.reconcile()
    if not report.ok:
        logger.error("reconciliation found problems", extra={"problems": report.problems})
    return {"ok": report.ok, "problems": report.problems[:50], "orders": report.checked_orders}


@shared_task(acks_late=True)
def local_events_deliver_task() -> int:
    """Test mode: POST every event of the local Stripe's outbox to our webhook at SITE_URL,
    signed as Stripe signs. An event that cannot be delivered goes back to wait for the next
    call. The address comes from settings only: a caller must not choose where events go."""
    import urllib.error
    import urllib.request

    from payments.local_stripe import local_event_requeue, local_event_signed, local_events_take

    if not settings.SITE_URL:
        logger.error("SITE_URL is not set: the local Stripe has nowhere to deliver its webhooks")
        return 0
    webhook_url = settings.SITE_URL + reverse("stripe_webhook")
    sent = 0
    for event in local_events_take():
        body, signature = local_event_signed(event)
        request = urllib.request.Request(  # noqa: S310 - our own endpoint, test mode only
            webhook_url, data=body, headers={"Content-Type": "application/json", "Stripe-Signature": signature}
        )
        try:
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310
                sent += 1
        except urllib.error.HTTPError:
            # Our endpoint refused it (a bug, not an outage): retrying would refuse it again.
            continue
        except urllib.error.URLError:
            local_event_requeue(event)
    return sent
