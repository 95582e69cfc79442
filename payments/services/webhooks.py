"""Stripe webhooks: verified, stored once, applied in the same transaction."""

import datetime
import logging

import stripe
from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace.errors import DomainError
from orders.models import Order, OrderEvent, OrderGroup
from payments import stripe_client
from payments.models import WebhookEvent
from payments.services.order_transitions import order_group_mark_paid

logger = logging.getLogger(__name__)


def webhook_receive(*, payload: bytes, signature: str):
    """Verify a Stripe event, then store it and apply it in one transaction.

    Returns (event row, created). The unique stripe_id decides: a replayed event changes
    nothing. A payment that cannot be taken is stored as failed and sent back to the buyer,
    once. If applying the event fails otherwise, it is stored as received and left to
    webhook_event_handle_task (and the sweeper) to retry. Raises WebhookRejected for a bad
    signature, a stale timestamp or bad JSON.
    """
    # payments.tasks imports this package: the task is looked up when it is enqueued.
    from payments.tasks import payment_intent_refund_whole_task, webhook_event_handle_task

    if not signature:
        raise WebhookRejected("Missing Stripe-Signature header.")
    try:
        data = stripe_client.webhook_event_verify(payload=payload, signature=signature)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected(f"Signature check failed: {exc.user_message or exc}") from None
    except ValueError:
        # Not UTF-8, not JSON, or JSON that is not an object.
        raise WebhookRejected("The body is not a Stripe event (invalid JSON).") from None
    if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        raise WebhookRejected("The body is not a Stripe event (it has no id or type).")
    obj = data.get("data", {}).get("object", {})
    try:
        with transaction.atomic(durable=True):
            # The effect first, then the row: a replayed event finds its id taken, and whatever
            # its effect did is rolled back with it.
            row = _webhook_event_insert(data, payload, status=_webhook_event_apply(data["type"], obj))
            if row is None:
                raise _Replayed
    except _Replayed:
        row = None
    except PaymentRefused as exc:
        with transaction.atomic(durable=True):
            row = _webhook_event_insert(data, payload, status=WebhookEvent.Status.FAILED, error=str(exc))
            if row is not None:
                transaction.on_commit(lambda: payment_intent_refund_whole_task.delay(obj["id"]))
    except Exception:
        logger.exception("stripe webhook %s could not be applied; the worker retries it", data["id"])
        with transaction.atomic(durable=True):
            row = _webhook_event_insert(data, payload, status=WebhookEvent.Status.RECEIVED)
            if row is not None:
                transaction.on_commit(lambda: webhook_event_handle_task.delay(row.pk))
    if row is None:
        return WebhookEvent.objects.get(stripe_id=data["id"]), False
    return row, True


class WebhookRejected(DomainError):
    pass


class PaymentRefused(Exception):
    """A payment that cannot be taken (the wrong amount, a checkout that expired): the buyer
    gets the whole PaymentIntent back."""


class _Replayed(Exception):
    pass


def _webhook_event_insert(data: dict, payload: bytes, *, status: str, error: str = ""):
    """Store an event once; None if its id was stored before (a replay, or a twin delivery
    that committed first), and then the caller's transaction is rolled back. A status other
    than received means it was applied in this transaction."""
    created_at = datetime.datetime.fromtimestamp(int(data.get("created", 0)), tz=datetime.UTC)
    try:
        return WebhookEvent.objects.create(
            stripe_id=data["id"],
            type=data["type"][:100],
            payload=data,
            status=status,
            error=error[:1000],
            stripe_created_at=created_at,
            handled_at=None if status == WebhookEvent.Status.RECEIVED else timezone.now(),
        )
    except IntegrityError:
        return None


# Event types other apps handle (disputes: chargebacks), registered from their AppConfig.ready
# so that payments never imports them. A handler gets the event's data.object and returns
# True if the event meant something to it.
WEBHOOK_HANDLERS: dict = {}


def webhook_handler_register(event_type: str, handler) -> None:
    WEBHOOK_HANDLERS[event_type] = handler


def _webhook_event_apply(event_type: str, obj: dict) -> str:
    """What an event does, in the caller's transaction; returns the status to record.
    Raises PaymentRefused, having changed nothing, for a payment that cannot be taken."""
    group_id = int(obj.get("metadata", {}).get("order_group_id", 0) or 0)
    if event_type == "payment_intent.succeeded":
        if not OrderGroup.objects.filter(pk=group_id).exists():
            return WebhookEvent.Status.IGNORED
        try:
            order_group_mark_paid(
                group_id=group_id,
                amount_minor=int(obj.get("amount_received") or obj.get("amount")),
                payment_intent_id=obj["id"],
                # Fetched before any row is locked; a Stripe failure leaves the event to the retries.
                card_fingerprint=stripe_client.card_fingerprint_of(payment_intent=obj),
            )
        except OrderGroup.DoesNotExist:
            # Not one of our groups, or not its PaymentIntent.
            return WebhookEvent.Status.IGNORED
        except DomainError as exc:
            # Paid for a checkout that expired, or the wrong amount.
            raise PaymentRefused(str(exc)) from exc
        return WebhookEvent.Status.SUCCEEDED
    if event_type in WEBHOOK_HANDLERS:
        return WebhookEvent.Status.SUCCEEDED if WEBHOOK_HANDLERS[event_type](obj) else WebhookEvent.Status.IGNORED
    if event_type == "payment_intent.payment_failed" and group_id:
        message = (obj.get("last_payment_error") or {}).get("message", "The payment failed.")
        OrderEvent.objects.bulk_create(
            [
                OrderEvent(order=order, kind=OrderEvent.Kind.PAYMENT_FAILED, note=message[:300])
                for order in Order.objects.filter(group_id=group_id, status=Order.Status.PENDING_PAYMENT)
            ]
        )
        return WebhookEvent.Status.SUCCEEDED
    return WebhookEvent.Status.IGNORED


def webhook_event_handle(*, event_id: int) -> str:
    """Apply a stored event that was not applied on arrival, or again (a redelivered task
    message). The claim, the effect and the final status commit together, so a crash leaves
    the event to be retried and never half-applied."""
    # payments.tasks imports this package: the task is looked up when it is enqueued.
    from payments.tasks import payment_intent_refund_whole_task

    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update(skip_locked=True).filter(pk=event_id).first()
        if event is None or event.status in (WebhookEvent.Status.SUCCEEDED, WebhookEvent.Status.IGNORED):
            return event.status if event else "busy"
        obj = event.payload.get("data", {}).get("object", {})
        try:
            with transaction.atomic():
                event.status = _webhook_event_apply(event.type, obj)
        except PaymentRefused as exc:
            event.status, event.error = WebhookEvent.Status.FAILED, str(exc)[:1000]
            transaction.on_commit(lambda: payment_intent_refund_whole_task.delay(obj["id"]))
        event.handled_at = timezone.now()
        event.save(update_fields=["status", "handled_at", "error"])
    return event.status


def payment_intent_refund_whole(*, payment_intent_id: str) -> None:
    stripe_client.refund_create(
        payment_intent_id=payment_intent_id,
        amount_minor=_intent_amount(payment_intent_id),
        idempotency_key=f"refund-whole-{payment_intent_id}",
    )


def _intent_amount(payment_intent_id: str) -> int:
    event = WebhookEvent.objects.filter(
        type="payment_intent.succeeded", payload__data__object__id=payment_intent_id
    ).first()
    return int(event.payload["data"]["object"]["amount"]) if event else 0
