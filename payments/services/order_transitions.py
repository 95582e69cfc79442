"""The order transitions that move money. Each calls the status-only transition of
orders.services in the same transaction and posts what the change means in the ledger:
payment (escrow capture), cancellation (full refund), holds (commissions frozen and
thawed), expiry (the PaymentIntent cancelled at Stripe after commit)."""

from django.db import transaction

from orders import services as order_services
from orders.models import Order, OrderLine
from payments.services.capture import capture_screens_run, escrow_capture
from payments.services.commissions import commission_freeze, commission_unfreeze
from payments.services.refunds import refund_create


def order_group_mark_paid(*, group_id: int, amount_minor: int, payment_intent_id: str, card_fingerprint: str = ""):
    """Payment succeeded: each order's money is held in its escrow account.

    Idempotent (a second success changes nothing). Returns the list of orders paid now.
    Raises OrderGroup.DoesNotExist if the group records another PaymentIntent, and
    DomainError, before changing anything, for a payment that cannot be taken: the wrong
    amount, or a group that expired (its items went back on sale); the caller gives the
    money back.
    """
    card_fingerprint = card_fingerprint[:64]
    # No savepoint of its own: the caller's transaction (the webhook's, with the event row)
    # commits or rolls back the payment as one.
    with transaction.atomic(savepoint=False):
        paid = order_services.order_group_pay(
            group_id=group_id,
            amount_minor=amount_minor,
            payment_intent_id=payment_intent_id,
            card_fingerprint=card_fingerprint,
        )
        if not paid:
            return []
        commission_lines = []
        if any(order.has_commission for order in paid):
            commission_lines = list(
                OrderLine.objects.filter(order__group_id=group_id, promoter__isnull=False, commission_bps__gt=0)
            )
            capture_screens_run(group_id=group_id, card_fingerprint=card_fingerprint, lines=commission_lines)
        escrow_capture(orders=paid, lines=commission_lines)
    return paid


def order_group_expire(*, group_id: int) -> bool:
    """An unpaid group past its pay-by time: release the stock, and after commit cancel its
    PaymentIntent at Stripe so that it can no longer be paid (a payment that still arrives
    is refunded by the webhook handler). Returns True if expired now."""
    # payments.tasks imports this package: the task is looked up when it is enqueued.
    from payments.tasks import payment_intent_cancel_task

    with transaction.atomic():
        group = order_services.order_group_mark_expired(group_id=group_id)
        if group is None:
            return False
        if group.payment_intent_id:
            transaction.on_commit(lambda: payment_intent_cancel_task.delay(group_id))
    return True


def order_cancel(*, order_id: int, actor, reason: str) -> Order:
    """Cancel before shipping: stock goes back and the buyer gets a full refund."""
    reason = reason.strip() or "Cancelled before shipping."
    with transaction.atomic():
        order = order_services.order_mark_cancelled(
            order_id=order_id, actor=actor, note=f"{reason} Full refund issued."
        )
        if order.total_minor > order.refunded_minor:
            refund_create(order=order, amount_minor=order.total_minor - order.refunded_minor, reason=reason)
    return order


def order_cancel_unshipped(*, order_id: int) -> bool:
    """The ship-by deadline (plus grace) passed: cancel and refund in full."""
    if not order_services.order_unshipped_due(order_id=order_id):
        return False
    order_cancel(order_id=order_id, actor=None, reason="The shop did not ship in time.")
    return True


def order_hold(*, order_id: int, held_by: str, reason: str, note: str = "") -> Order:
    """Freeze the order's held payment and its commissions, and pause its timers, for
    `held_by` (an Order.HeldBy: disputes' buyer protection, or settlement's check)."""
    with transaction.atomic():
        order = order_services.order_mark_held(order_id=order_id, held_by=held_by, reason=reason, note=note)
        commission_freeze(order=order)
    return order


def order_release_hold(*, order_id: int, note: str = "") -> Order:
    with transaction.atomic():
        order, released = order_services.order_mark_hold_released(order_id=order_id, note=note)
        if released:
            commission_unfreeze(order=order)
    return order
