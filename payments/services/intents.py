"""PaymentIntents: one per order group, created once, cancelled when the group expires."""

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from marketplace.prepared import PreparedStatement, execute_in_one_round_trip, instances_fetch, model_columns
from orders.models import OrderGroup
from payments import stripe_client

# A "creating" marker older than this is taken to be left by a process that died between
# Stripe's answer and recording it. Creating again is safe even if that process is only slow:
# the idempotency key comes from the group id, so Stripe answers with the same PaymentIntent
# (or refuses while the first call is still in flight).
PAYMENT_INTENT_CLAIM_STALE = timedelta(minutes=2)


_PAYMENT_INTENT_CLAIM = PreparedStatement(
    "payment_intent_claim",
    """
    UPDATE orders_ordergroup SET payment_intent_id = 'creating', payment_intent_started_at = now()
     WHERE id = %(group)s AND status = %(pending)s
       AND (payment_intent_id = ''
            OR (payment_intent_id = 'creating'
                AND (payment_intent_started_at IS NULL OR payment_intent_started_at < now() - %(stale)s)))
    RETURNING """  # noqa: S608 (the model's own column names)
    + model_columns(OrderGroup),
    group="bigint",
    pending="text",
    stale="interval",
)

_PAYMENT_INTENT_RECORD = PreparedStatement(
    "payment_intent_record",
    "UPDATE orders_ordergroup SET payment_intent_id = %(intent)s, payment_client_secret = %(client_secret)s "
    "WHERE id = %(group)s",
    intent="text",
    client_secret="text",  # noqa: S106 (a parameter's SQL type, not a secret)
    group="bigint",
)

_COMMIT_WITHOUT_FLUSH_WAIT = PreparedStatement(
    "commit_without_flush_wait", "SELECT set_config('synchronous_commit', 'off', true)"
)


def _without_flush_wait(cursor, statement: PreparedStatement, values: dict) -> None:
    """Run `statement` as its own transaction that commits without waiting for the WAL flush
    (unless the caller's transaction holds it, which then decides).

    For the claim and the record of a PaymentIntent: a database crash may lose the last few
    such commits, and that is harmless. A lost claim or record leaves the group as it was
    before, so it is claimed again and the create call, keyed on the group id, gets the same
    PaymentIntent back from Stripe; a payment that arrives meanwhile is taken by a group still
    waiting for its intent. Any later durable commit flushes them too."""
    if connection.in_atomic_block:
        statement.execute(cursor, values)
    else:
        # Sent together, the two run as one implicit transaction; set_config(..., true) is
        # local to it.
        execute_in_one_round_trip(cursor, (_COMMIT_WITHOUT_FLUSH_WAIT, {}), (statement, values))


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
        with connection.cursor() as cursor:
            _without_flush_wait(
                cursor,
                _PAYMENT_INTENT_CLAIM,
                {"group": group_id, "pending": OrderGroup.Status.PENDING_PAYMENT, "stale": PAYMENT_INTENT_CLAIM_STALE},
            )
            claimed = instances_fetch(cursor, OrderGroup)
        if not claimed:
            return OrderGroup.objects.get(pk=group_id)
        group = claimed[0]
    try:
        intent = stripe_client.payment_intent_create(
            amount_minor=group.total_minor, group_id=group.pk, idempotency_key=f"pi-group-{group.pk}"
        )
    except stripe_client.StripeFailure:
        OrderGroup.objects.filter(pk=group_id, payment_intent_id="creating").update(payment_intent_id="")
        raise
    with connection.cursor() as cursor:
        _without_flush_wait(
            cursor,
            _PAYMENT_INTENT_RECORD,
            {"intent": intent["id"], "client_secret": intent["client_secret"], "group": group_id},
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
