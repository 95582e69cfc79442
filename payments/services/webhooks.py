"""Stripe webhooks: verified, stored once, applied in the same transaction."""

import datetime
import hashlib
import json
import logging

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace.errors import DomainError
from orders.models import Order, OrderEvent, OrderGroup
from payments import stripe_client
from payments.models import WebhookEvent
from payments.services.alerts import staff_alert_open
from payments.services.order_transitions import order_group_mark_paid

logger = logging.getLogger(__name__)


def webhook_receive(*, payload: bytes, signature: str):
    """Verify a Stripe event, then store it and apply it in one transaction.

    Returns (event row, created). The unique stripe_id decides: a replayed event changes
    nothing. A signed body that is not a well-formed event we can apply is stored as
    rejected with the reason, and WebhookRejected raised (a 400). A payment event is applied
    from Stripe's own PaymentIntent, fetched here, never from the body's amounts. A payment
    that cannot be taken is stored as failed and sent back to the buyer, once. If applying
    the event fails otherwise, it is stored as received (one attempt) and left to
    webhook_event_handle_task (and the sweeper) to retry, up to the dead letter. Raises
    WebhookRejected, storing nothing, for a missing or bad signature or a stale timestamp.
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
        # Signed, but not UTF-8, not JSON, or JSON that is not an object.
        _webhook_event_reject(None, payload, "The body is not a Stripe event (invalid JSON).")
        raise WebhookRejected("The body is not a Stripe event (invalid JSON).") from None
    if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        _webhook_event_reject(data, payload, "The body is not a Stripe event (it has no id or type).")
        raise WebhookRejected("The body is not a Stripe event (it has no id or type).")
    if problem := _webhook_event_problem(data, payload):
        row = _webhook_event_reject(data, payload, problem)
        raise WebhookRejected(problem, code="rejected" if row else "duplicate")
    try:
        obj = _webhook_object(data)
    except _NotAtStripe as exc:
        _webhook_event_reject(data, payload, str(exc))
        raise WebhookRejected(str(exc)) from None
    except stripe_client.StripeFailure as exc:
        # Stripe could not be asked now: stored, and the worker asks again.
        obj, fetch_error = None, f"Stripe could not be asked about the PaymentIntent: {exc}"
    try:
        if obj is None:
            raise _Retry(fetch_error)
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
    except Exception as exc:
        if not isinstance(exc, _Retry):
            logger.exception("stripe webhook %s could not be applied; the worker retries it", data["id"])
        with transaction.atomic(durable=True):
            row = _webhook_event_insert(
                data, payload, status=WebhookEvent.Status.RECEIVED, error=_error_text(exc), attempts=1
            )
            if row is not None:
                transaction.on_commit(lambda: webhook_event_handle_task.delay(row.pk))
    if row is None:
        return WebhookEvent.objects.get(stripe_id=data["id"]), False
    return row, True


def _error_text(exc: Exception) -> str:
    return str(exc) if isinstance(exc, _Retry) else f"{type(exc).__name__}: {exc}"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _webhook_event_problem(data: dict, payload: bytes) -> str:
    """Why a signed body is not an event we can store and apply, or "" when it is one."""
    if len(data["id"]) > 100 or len(data["type"]) > 100:
        return "The event's id or type is too long."
    if b"\\u0000" in payload:
        return "The event contains a NUL character."
    if not _is_int(data.get("created")) or not 0 <= data["created"] < 2**33:
        return "The event's created time is not a Unix timestamp."
    if not isinstance(data.get("data"), dict) or not isinstance(data["data"].get("object"), dict):
        return "The event has no data.object."
    obj = data["data"]["object"]
    if data["type"].startswith("payment_intent."):
        if not isinstance(obj.get("id"), str) or not obj["id"].startswith("pi_") or len(obj["id"]) > 100:
            return "The event's data.object is not a PaymentIntent (no pi_ id)."
        metadata = obj.get("metadata", {})
        if not isinstance(metadata, dict):
            return "The PaymentIntent's metadata is not an object."
        group = metadata.get("order_group_id", "0")
        if not isinstance(group, str) or not group.isdigit() or len(group) > 18:
            return "The PaymentIntent's metadata.order_group_id is not an id."
        if not isinstance(metadata.get("card_fingerprint", ""), str):
            return "The PaymentIntent's metadata.card_fingerprint is not text."
        amounts = [obj[key] for key in ("amount", "amount_received") if key in obj]
        if not amounts or not all(_is_int(a) for a in amounts):
            return "The PaymentIntent has no whole-number amount."
    return ""


class _NotAtStripe(Exception):
    """Stripe knows no such PaymentIntent, or not as paid: the event is not Stripe's word."""


class _Retry(Exception):
    pass


def _webhook_object(data: dict) -> dict:
    """The event's object to apply. For a success, Stripe's own PaymentIntent (its status,
    amounts and metadata), never the body's: a forged or stale body must not decide what is
    captured or refunded. Raises _NotAtStripe, or StripeFailure when Stripe cannot answer."""
    obj = data["data"]["object"]
    if data["type"] != "payment_intent.succeeded":
        return obj
    try:
        intent = stripe_client.payment_intent_retrieve(payment_intent_id=obj["id"])
    except stripe_client.StripeFailure as exc:
        if exc.code == "resource_missing":
            raise _NotAtStripe(f"Stripe has no PaymentIntent {obj['id']}.") from None
        raise
    if intent["status"] != "succeeded":
        raise _NotAtStripe(f"Stripe says PaymentIntent {obj['id']} is {intent['status']}, not succeeded.")
    return intent


def _webhook_event_reject(data: dict | None, payload: bytes, reason: str):
    """Store a signed body we will not apply, with the reason; None if its id was stored
    before. A body without a usable id is stored under one made from its own hash."""
    usable = isinstance(data, dict) and isinstance(data.get("id"), str) and 0 < len(data["id"]) <= 100
    digest = hashlib.sha256(payload).hexdigest()[:40]
    event_type = data.get("type") if isinstance(data, dict) else None
    stored = {
        "id": data["id"] if usable else f"unidentified_{digest}",
        "type": event_type[:100] if isinstance(event_type, str) else "",
        "created": data["created"] if isinstance(data, dict) and _is_int(data.get("created")) else 0,
    }
    text = payload.decode(errors="replace").replace("\\u0000", "").replace("\x00", "")
    try:
        json.loads(text)
    except ValueError:
        text = json.dumps({"unparsed": text[:20_000]})
    if not 0 <= stored["created"] < 2**33:
        stored["created"] = 0
    with transaction.atomic(durable=True):
        return _webhook_event_insert(
            stored, payload, status=WebhookEvent.Status.REJECTED, error=reason, body=json.loads(text)
        )


class WebhookRejected(DomainError):
    pass


class PaymentRefused(Exception):
    """A payment that cannot be taken (the wrong amount, a checkout that expired): the buyer
    gets the whole PaymentIntent back."""


class _Replayed(Exception):
    pass


def _webhook_event_insert(data: dict, payload: bytes, *, status: str, error: str = "", attempts: int = 0, body=None):
    """Store an event once; None if its id was stored before (a replay, or a twin delivery
    that committed first), and then the caller's transaction is rolled back. A status other
    than received means it was applied in this transaction. `body` is what to keep when it
    is not the event itself (a rejected body)."""
    created_at = datetime.datetime.fromtimestamp(int(data.get("created", 0)), tz=datetime.UTC)
    try:
        return WebhookEvent.objects.create(
            stripe_id=data["id"],
            type=data["type"][:100],
            payload=data if body is None else body,
            status=status,
            error=error[:1000],
            stripe_created_at=created_at,
            handled_at=None if status == WebhookEvent.Status.RECEIVED else timezone.now(),
            attempts=attempts,
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
            # Fetched before any row is locked; a Stripe failure leaves the event to the retries.
            card_fingerprint = stripe_client.card_fingerprint_of(payment_intent=obj)
            # A savepoint: order_group_mark_paid has none of its own, and a refusal raised out
            # of it would otherwise leave the whole transaction unusable for the event row.
            with transaction.atomic():
                order_group_mark_paid(
                    group_id=group_id,
                    amount_minor=int(obj.get("amount_received") or obj.get("amount")),
                    payment_intent_id=obj["id"],
                    card_fingerprint=card_fingerprint,
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


_DONE = (
    WebhookEvent.Status.SUCCEEDED,
    WebhookEvent.Status.IGNORED,
    WebhookEvent.Status.REJECTED,
    WebhookEvent.Status.DEAD_LETTER,
)


def webhook_event_handle(*, event_id: int) -> str:
    """Apply a stored event that was not applied on arrival, or again (a redelivered task
    message). The claim, the effect and the final status commit together, so a crash leaves
    the event to be retried and never half-applied. Each failed attempt is counted; after
    MARKETPLACE_WEBHOOK_MAX_ATTEMPTS the event goes to the dead letter and staff are alerted."""
    # payments.tasks imports this package: the task is looked up when it is enqueued.
    from payments.tasks import payment_intent_refund_whole_task

    stored = WebhookEvent.objects.filter(pk=event_id).values("type", "payload", "status").first()
    if stored is None or stored["status"] in _DONE:
        return stored["status"] if stored else "busy"
    # Stripe is asked before any lock is taken.
    try:
        obj, failure = _webhook_object(stored["payload"]), None
    except _NotAtStripe as exc:
        obj, failure = None, exc
    except Exception as exc:  # noqa: BLE001 - counted as a failed attempt below
        obj, failure = None, _Retry(_error_text(exc))
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update(skip_locked=True).filter(pk=event_id).first()
        if event is None or event.status in _DONE:
            return event.status if event else "busy"
        if isinstance(failure, _NotAtStripe):
            event.status, event.error = WebhookEvent.Status.REJECTED, str(failure)[:1000]
        else:
            try:
                if failure is not None:
                    raise failure
                with transaction.atomic():
                    event.status = _webhook_event_apply(event.type, obj)
            except PaymentRefused as exc:
                event.status, event.error = WebhookEvent.Status.FAILED, str(exc)[:1000]
                transaction.on_commit(lambda: payment_intent_refund_whole_task.delay(obj["id"]))
            except Exception as exc:  # noqa: BLE001 - any failure is one attempt; the last is kept
                if not isinstance(exc, _Retry):
                    logger.exception("stripe webhook %s failed again", event.stripe_id)
                _webhook_event_failed(event, _error_text(exc))
        event.handled_at = timezone.now()
        event.save(update_fields=["status", "handled_at", "error", "attempts"])
    return event.status


def _webhook_event_failed(event: WebhookEvent, error: str) -> None:
    event.attempts += 1
    event.error = error[:1000]
    if event.attempts >= settings.MARKETPLACE_WEBHOOK_MAX_ATTEMPTS:
        event.status = WebhookEvent.Status.DEAD_LETTER
        staff_alert_open(
            kind="webhook_dead_letter",
            subject_ref=event.stripe_id,
            title=f"Stripe event {event.stripe_id} ({event.type}) failed {event.attempts} times",
            detail=f"It is no longer retried. Last error: {event.error}",
        )


def payment_intent_refund_whole(*, payment_intent_id: str) -> None:
    """Give back a payment that could not be taken: what Stripe says it captured, never an
    amount from an event body; nothing when Stripe captured nothing."""
    intent = stripe_client.payment_intent_retrieve(payment_intent_id=payment_intent_id)
    if intent["status"] != "succeeded" or intent["amount_received"] <= 0:
        logger.warning("nothing to refund: PaymentIntent %s is %s", payment_intent_id, intent["status"])
        return
    stripe_client.refund_create(
        payment_intent_id=payment_intent_id,
        amount_minor=intent["amount_received"],
        idempotency_key=f"refund-whole-{payment_intent_id}",
    )
