"""An order's life: one function per transition, each under a row lock, each moving the
status only through order_transition (the table of allowed moves is Order.TRANSITIONS).

These functions change the order and its timeline only. The transitions that also move
money (payment, cancellation with its refund, holds with their commissions, expiry with
its PaymentIntent) are in payments.services.order_transitions, which calls these."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from marketplace.errors import ConflictError, DomainError
from marketplace.prepared import PreparedStatement, model_columns
from orders.models import Order, OrderEvent, OrderGroup
from shops.models import Product, Variant


def _event(order: Order, kind: str, actor=None, note: str = "") -> None:
    OrderEvent.objects.create(order=order, kind=kind, actor=actor, note=note[:300])


def _lock(order_id: int) -> Order:
    return Order.objects.select_for_update().get(pk=order_id)


def order_transition(order: Order, to: str, *, action: str) -> None:
    """Move a locked order to status `to`, if Order.TRANSITIONS allows it from where it is
    (the caller saves). Every status change of an order goes through here, except the two
    set-based statements (payment, settlement), whose SQL selects only rows in the statuses
    Order.sources(to) names (tests/orders/test_transitions.py holds them to it)."""
    if to not in Order.TRANSITIONS[order.status]:
        raise ConflictError(f"This order is {order.get_status_display().lower()}; it cannot be {action}.")
    order.status = to


def _release_stock(order: Order) -> None:
    for line in order.lines.order_by("variant_id"):
        Variant.objects.filter(pk=line.variant_id).update(stock=F("stock") + line.quantity)
        Product.objects.filter(pk=line.product_id).update(stock_total=F("stock_total") + line.quantity)


# The claim and its effect in one statement. The group takes the payment if it waits for
# exactly this one (blank or "creating": the buyer paid before the id was recorded); its row
# is locked first (the orders' scan needs its id), then the orders' rows in id order, as every
# transition takes them. Each paid order gets its timeline event. No row: nothing was claimed.
_GROUP_PAY = PreparedStatement(
    "order_group_pay",
    """
    WITH claimed AS (
        UPDATE orders_ordergroup
           SET status = %(group_paid)s, paid_at = %(now)s, payment_intent_id = %(intent)s, card_fingerprint = %(card)s
         WHERE id = %(group)s AND status = %(pending)s AND total_minor = %(amount)s
           AND payment_intent_id IN ('', 'creating', %(intent)s)
        RETURNING id
    ), paid AS (
        UPDATE orders_order SET status = %(paid)s, paid_at = %(now)s, ship_by = %(ship_by)s
         WHERE id IN (SELECT id FROM orders_order WHERE group_id = (SELECT id FROM claimed) ORDER BY id FOR UPDATE)
        RETURNING *
    ), timeline AS (
        INSERT INTO orders_orderevent (order_id, kind, actor_id, note, created_at)
        SELECT id, %(event)s, NULL, %(note)s, %(now)s FROM paid
    )
    SELECT """  # noqa: S608 (the model's own column names)
    + model_columns(Order, "paid")
    + """, EXISTS (
        SELECT 1 FROM orders_orderline l
         WHERE l.order_id = paid.id AND l.promoter_id IS NOT NULL AND l.commission_bps > 0
    ) AS has_commission
      FROM paid ORDER BY id
    """,
    group_paid="text",
    now="timestamptz",
    intent="text",
    card="text",
    group="bigint",
    pending="text",
    amount="bigint",
    paid="text",
    ship_by="timestamptz",
    note="text",
    event="text",
)


def order_group_pay(*, group_id: int, amount_minor: int, payment_intent_id: str, card_fingerprint: str = ""):
    """The group and its orders are paid (status, timers, timeline; the money is
    payments.services.order_group_mark_paid's). Returns the orders paid now, each with
    `has_commission`; [] when the group was paid by this PaymentIntent already. Raises
    OrderGroup.DoesNotExist if the group records another PaymentIntent, and DomainError,
    before changing anything, for a payment that cannot be taken: the wrong amount, or a
    group that expired (its items went back on sale)."""
    now = timezone.now()
    paid = _GROUP_PAY.instances(
        Order,
        {
            "group_paid": OrderGroup.Status.PAID,
            "now": now,
            "intent": payment_intent_id,
            "card": card_fingerprint[:64],
            "group": group_id,
            "pending": OrderGroup.Status.PENDING_PAYMENT,
            "amount": amount_minor,
            "paid": Order.Status.PAID,
            "ship_by": now + timedelta(days=settings.MARKETPLACE_SHIP_BY_DAYS),
            "note": "Payment received and held until you confirm receipt.",
            "event": OrderEvent.Kind.PAID,
        },
    )
    if not paid:
        _group_payment_refuse(group_id, amount_minor, payment_intent_id)
    return paid


def _group_payment_refuse(group_id: int, amount_minor: int, payment_intent_id: str) -> None:
    """Why a group did not take a payment, read under its row lock: raises, or returns when
    the group was paid by this PaymentIntent already (a repeated success)."""
    group = OrderGroup.objects.select_for_update().get(pk=group_id)
    if group.payment_intent_id not in ("", "creating", payment_intent_id):
        raise OrderGroup.DoesNotExist(f"Order group {group.pk} has another PaymentIntent.")
    if group.status == OrderGroup.Status.PAID:
        return
    if amount_minor != group.total_minor:
        raise DomainError(f"Paid {amount_minor} but the order group totals {group.total_minor}.")
    if group.status == OrderGroup.Status.EXPIRED:
        raise ConflictError("The payment arrived after the checkout expired and its items went back on sale.")
    # Not a refusal: the claim found the group in a state no transition leaves it in.
    raise RuntimeError(f"Order group {group.pk} ({group.status}) did not take a payment it should take.")


def order_group_mark_expired(*, group_id: int) -> OrderGroup | None:
    """An unpaid group past its pay-by time: its orders expire and their stock goes back on
    sale. Returns the group if it expired now (the caller cancels its PaymentIntent)."""
    with transaction.atomic():
        group = OrderGroup.objects.select_for_update().get(pk=group_id)
        if group.status != OrderGroup.Status.PENDING_PAYMENT or group.pay_by > timezone.now():
            return None
        group.status = OrderGroup.Status.EXPIRED
        group.save(update_fields=["status"])
        for order in group.orders.select_for_update().order_by("pk"):
            order_transition(order, Order.Status.EXPIRED, action="expired")
            order.save(update_fields=["status"])
            _release_stock(order)
            _event(
                order, OrderEvent.Kind.EXPIRED, note="Payment was not completed in time; the items went back on sale."
            )
    return group


def order_ship(*, order_id: int, merchant, carrier: str, tracking_number: str) -> Order:
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if not carrier:
        raise DomainError("Enter the carrier (e.g. SF Express).", field="carrier")
    if not 4 <= len(tracking_number) <= 60 or not tracking_number.replace("-", "").isalnum():
        raise DomainError("Enter the tracking number: 4 to 60 letters and digits.", field="tracking_number")
    with transaction.atomic():
        order = _lock(order_id)
        if order.shop.owner_id != merchant.pk:
            raise Order.DoesNotExist
        order_transition(order, Order.Status.SHIPPED, action="shipped")
        now = timezone.now()
        order.shipped_at = now
        order.carrier = carrier[:60]
        order.tracking_number = tracking_number
        order.auto_confirm_at = now + timedelta(days=settings.MARKETPLACE_AUTO_CONFIRM_DAYS)
        order.save(update_fields=["status", "shipped_at", "carrier", "tracking_number", "auto_confirm_at"])
        _event(
            order,
            OrderEvent.Kind.SHIPPED,
            actor=merchant,
            note=f"Shipped with {carrier}, tracking number {tracking_number}.",
        )
    return order


def order_confirm_receipt(*, order_id: int, buyer=None) -> Order:
    """The buyer confirms receipt (buyer given) or the auto-confirm timer does (buyer None)."""
    with transaction.atomic():
        order = _lock(order_id)
        if buyer is not None and order.buyer_id != buyer.pk:
            raise Order.DoesNotExist
        now = timezone.now()
        if (
            order.status == Order.Status.SHIPPED
            and buyer is None
            and (order.is_held or order.auto_confirm_at is None or order.auto_confirm_at > now)
        ):
            raise ConflictError("This order is not due for automatic confirmation.")
        order_transition(order, Order.Status.RECEIVED, action="confirmed as received")
        order.received_at = now
        order.after_sales_ends_at = now + timedelta(days=settings.MARKETPLACE_AFTER_SALES_DAYS)
        order.save(update_fields=["status", "received_at", "after_sales_ends_at"])
        note = "Buyer confirmed receipt." if buyer else "Receipt confirmed automatically after the waiting period."
        _event(order, OrderEvent.Kind.RECEIVED, actor=buyer, note=note)
    return order


def order_mark_cancelled(*, order_id: int, actor, note: str) -> Order:
    """Cancel before shipping: the stock goes back (the refund is the caller's,
    payments.services.order_cancel). `actor` None is the system's deadline sweeper."""
    with transaction.atomic():
        order = _lock(order_id)
        is_buyer = actor is not None and order.buyer_id == actor.pk
        is_merchant = actor is not None and order.shop.owner_id == actor.pk
        if actor is not None and not (is_buyer or is_merchant or actor.is_staff):
            raise Order.DoesNotExist
        order_transition(order, Order.Status.CANCELLED, action="cancelled")
        if order.is_held:
            raise ConflictError("An open after-sales request holds this order; it is decided there.")
        order.cancelled_at = timezone.now()
        order.save(update_fields=["status", "cancelled_at"])
        _release_stock(order)
        _event(order, OrderEvent.Kind.CANCELLED, actor=actor, note=note)
    return order


def order_mark_held(*, order_id: int, held_by: str, reason: str, note: str = "") -> Order:
    """Hold the order for `held_by` (an Order.HeldBy): its timers pause and settlement
    refuses it (its commissions are the caller's, payments.services.order_hold). `reason`
    is for staff (the admin shows it); `note`, the timeline entry that buyer and merchant
    read, is the reason itself unless given."""
    with transaction.atomic():
        order = _lock(order_id)
        if not Order.TRANSITIONS[order.status]:
            raise ConflictError("A completed order can no longer be held.")
        order.is_held = True
        order.held_by = held_by
        order.held_reason = reason[:200]
        order.save(update_fields=["is_held", "held_by", "held_reason"])
        _event(order, OrderEvent.Kind.HELD, note=note or reason)
    return order


def order_mark_hold_released(*, order_id: int, note: str = "") -> tuple[Order, bool]:
    """Lift the order's hold; returns (order, whether it was held)."""
    with transaction.atomic():
        order = _lock(order_id)
        if not order.is_held:
            return order, False
        order.is_held = False
        order.held_by = ""
        order.held_reason = ""
        now = timezone.now()
        # Paused timers restart from now, so the buyer never loses waiting time to a dispute.
        if order.status == Order.Status.SHIPPED and order.auto_confirm_at and order.auto_confirm_at < now:
            order.auto_confirm_at = now + timedelta(days=1)
        if order.status == Order.Status.RECEIVED and order.after_sales_ends_at and order.after_sales_ends_at < now:
            order.after_sales_ends_at = now + timedelta(days=1)
        order.save(update_fields=["is_held", "held_by", "held_reason", "auto_confirm_at", "after_sales_ends_at"])
        _event(order, OrderEvent.Kind.HOLD_RELEASED, note=note or "Hold released.")
    return order, True


def order_ship_reminder(*, order_id: int) -> bool:
    """Remind the merchant once that the ship-by deadline is close."""
    updated = Order.objects.filter(pk=order_id, status=Order.Status.PAID, ship_reminder_sent_at__isnull=True).update(
        ship_reminder_sent_at=timezone.now()
    )
    if updated:
        order = Order.objects.get(pk=order_id)
        _event(
            order,
            OrderEvent.Kind.SHIP_REMINDER,
            note="Reminder: ship before the deadline or the order is cancelled and refunded.",
        )
    return bool(updated)


# Grace after the ship-by deadline before the sweeper cancels on the buyer's behalf.
SHIP_GRACE = timedelta(days=1)


def order_unshipped_due(*, order_id: int) -> bool:
    """Whether the ship-by deadline (plus grace) of this paid, unheld order has passed."""
    order = Order.objects.filter(pk=order_id).only("status", "ship_by", "is_held").first()
    return not (
        order is None
        or order.status != Order.Status.PAID
        or order.is_held
        or order.ship_by is None
        or order.ship_by + SHIP_GRACE > timezone.now()
    )
