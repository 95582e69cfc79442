"""PaymentIntents: one per order group, created once, cancelled when the group expires."""

from datetime import timedelta

from django.db.models import DateTimeField, ExpressionWrapper, Q, Value
from django.db.models.functions import Now
from django.utils import timezone

from orders.models import OrderGroup
from payments import stripe_client

# A "creating" marker older than this is taken to be left by a process that died between
# Stripe's answer and recording it. Creating again is safe even if that process is only slow:
# the idempotency key comes from the group id, so Stripe answers with the same PaymentIntent
# (or refuses while the first call is still in flight).
PAYMENT_INTENT_CLAIM_STALE = timedelta(minutes=2)


def _claim(group_id: int) -> OrderGroup | None:
    """Phase 1: mark the group "creating" if its PaymentIntent is blank, or a stale marker
    (the database's clock decides); one conditional UPDATE, so one request wins."""
    stale_before = ExpressionWrapper(Now() - Value(PAYMENT_INTENT_CLAIM_STALE), output_field=DateTimeField())
    claimed = (
        OrderGroup.objects.filter(pk=group_id, status=OrderGroup.Status.PENDING_PAYMENT)
        .filter(
            Q(payment_intent_id="")
            | Q(payment_intent_id="creating")
            & (Q(payment_intent_started_at__isnull=True) | Q(payment_intent_started_at__lt=stale_before))
        )
        .update(payment_intent_id="creating", payment_intent_started_at=Now())
    )
    return OrderGroup.objects.get(pk=group_id) if claimed else None


def payment_intent_ensure(*, group_id: int, placed: OrderGroup | None = None):
    """Create the group's one PaymentIntent, once, even under concurrent requests.

    Phase 1 claims the group with a conditional UPDATE (the "creating" marker, when it is
    blank or stale); phase 2 calls Stripe outside any lock, with an idempotency key from the
    group id; phase 3 records the answer. A request that loses the claim returns the group as
    it is. `placed` is the group as checkout_place returned it to this caller: when that call
    placed it, it was born claimed by this caller and phase 1 is skipped (once: the instance
    is marked as used).
    """
    if placed is not None and placed.placed_now and placed.pk == group_id:
        group, placed.placed_now = placed, False
    else:
        group = _claim(group_id)
        if group is None:
            return OrderGroup.objects.get(pk=group_id)
    try:
        intent = stripe_client.payment_intent_create(
            amount_minor=group.total_minor, group_id=group.pk, idempotency_key=f"pi-group-{group.pk}"
        )
    except stripe_client.StripeFailure:
        OrderGroup.objects.filter(pk=group_id, payment_intent_id="creating").update(payment_intent_id="")
        raise
    OrderGroup.objects.filter(pk=group_id).update(
        payment_intent_id=intent["id"], payment_client_secret=intent["client_secret"]
    )
    group.payment_intent_id, group.payment_client_secret = intent["id"], intent["client_secret"]
    return group


class PaymentIntentPending(Exception):
    """The PaymentIntent is being created (the "creating" marker): its id is not known yet."""


def payment_intent_cancel(*, group_id: int) -> str:
    """Cancel an expired group's PaymentIntent at Stripe, so that it can no longer be paid.

    Returns Stripe's status for it: "canceled", or "succeeded" when the buyer paid first (the
    webhook handler refunds that payment); "" when the group has none, or a "creating" marker
    gone stale: its creator died before the client secret reached anyone who could pay. Raises
    PaymentIntentPending while it is being created, for the task to retry: the creating
    request records the id soon.
    """
    group = OrderGroup.objects.get(pk=group_id)
    if group.status != OrderGroup.Status.EXPIRED or not group.payment_intent_id:
        return ""
    if group.payment_intent_id == "creating":
        started = group.payment_intent_started_at
        if started is None or started < timezone.now() - PAYMENT_INTENT_CLAIM_STALE:
            return ""
        raise PaymentIntentPending(f"Order group {group.pk}: its PaymentIntent is being created.")
    return stripe_client.payment_intent_cancel(
        payment_intent_id=group.payment_intent_id, idempotency_key=f"pi-cancel-group-{group.pk}"
    )
