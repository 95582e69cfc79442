"""Money movements: every one is a balanced ledger transaction with an idempotency key."""

from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from marketplace.errors import ConflictError, DomainError
from marketplace.money import bps_share
from orders.models import Order, OrderEvent
from payments import ledger
from payments.ledger import Kind
from payments.models import LedgerEntry, LedgerTransaction, Refund, Transfer


def escrow_capture(*, order: Order) -> None:
    """Paid: the order's total moves from payment clearing into its escrow account."""
    ledger.ledger_post(
        idempotency_key=f"capture:order:{order.pk}",
        kind=LedgerTransaction.Kind.PAYMENT_CAPTURED,
        order=order,
        entries=[
            (ledger.account_get(kind=Kind.CLEARING), -order.total_minor),
            (ledger.account_get(kind=Kind.ESCROW, order=order), order.total_minor),
        ],
    )


def refund_create(*, order: Order, amount_minor: int, reason: str) -> Refund:
    """Take `amount_minor` out of the order's escrow for the buyer; Stripe is called after
    commit by refund_submit_task. The caller holds the order's row lock."""
    from payments.tasks import refund_submit_task

    remaining = order.total_minor - order.refunded_minor
    if not 0 < amount_minor <= remaining:
        raise DomainError(f"A refund must be between 0.01 and what is still held ({remaining} minor units).")
    held = ledger.balance_of(kind=Kind.ESCROW, order=order)
    if held < amount_minor:
        raise ConflictError("Not enough money is held for this order to refund that much.")
    refund = Refund.objects.create(order=order, amount_minor=amount_minor, reason=reason[:200])
    ledger.ledger_post(
        idempotency_key=f"refund:{refund.pk}",
        kind=LedgerTransaction.Kind.REFUND,
        order=order,
        memo=reason,
        entries=[
            (ledger.account_get(kind=Kind.ESCROW, order=order), -amount_minor),
            (ledger.account_get(kind=Kind.REFUNDS), amount_minor),
        ],
    )
    Order.objects.filter(pk=order.pk).update(refunded_minor=F("refunded_minor") + amount_minor)
    order.refunded_minor += amount_minor
    transaction.on_commit(lambda: refund_submit_task.delay(refund.pk))
    return refund


def refund_submit(*, refund_id: int) -> Refund:
    """Send a refund to Stripe once. Three phases: claim, call, record."""
    from payments import stripe_client

    claimed = Refund.objects.filter(pk=refund_id, status=Refund.Status.PENDING, submitted_at__isnull=True).update(
        submitted_at=timezone.now()
    )
    refund = Refund.objects.select_related("order__group").get(pk=refund_id)
    if not claimed and refund.stripe_refund_id:
        return refund
    try:
        result = stripe_client.refund_create(
            payment_intent_id=refund.order.group.payment_intent_id,
            amount_minor=refund.amount_minor,
            idempotency_key=f"refund-{refund.pk}",
            transfer_id=refund.order.transfer_id,
        )
    except stripe_client.StripeFailure as exc:
        Refund.objects.filter(pk=refund_id).update(error=str(exc)[:300], submitted_at=None)
        raise
    Refund.objects.filter(pk=refund_id).update(status=Refund.Status.SUCCEEDED, stripe_refund_id=result["id"])
    refund.refresh_from_db()
    return refund


# --- Settlement -------------------------------------------------------------------------


@dataclass
class SettlementParts:
    """Where an order's money goes. merchant + platform + sum(commissions) == paid."""

    paid: int
    platform: int
    commissions: dict[int, int] = field(default_factory=dict)

    @property
    def merchant(self) -> int:
        return self.paid - self.platform - sum(self.commissions.values())


def settlement_parts(order: Order, lines=None) -> SettlementParts:
    """Split what the buyer paid and kept (total − refunded).

    Platform fee and commissions round down (marketplace.money.bps_share); the merchant
    takes the remainder, so the parts always add up to the whole.
    """
    kept = order.total_minor - order.refunded_minor
    if kept <= 0:
        return SettlementParts(paid=0, platform=0)
    ratio_num, ratio_den = kept, order.total_minor
    platform = bps_share(kept, order.platform_fee_bps)
    commissions: dict[int, int] = {}
    for line in lines if lines is not None else order.lines.all():
        if line.promoter_id and line.commission_bps:
            # A partial refund shrinks every commission base in proportion (rounded down).
            base = line.commission_base_minor * ratio_num // ratio_den
            share = bps_share(base, line.commission_bps)
            if share:
                commissions[line.promoter_id] = commissions.get(line.promoter_id, 0) + share
    parts = SettlementParts(paid=kept, platform=platform, commissions=commissions)
    if parts.merchant < 0:
        raise ConflictError(f"Order {order.pk}: fees and commissions exceed what was paid.")
    return parts


def order_settle(*, order_id: int) -> bool:
    """Release one order's escrow (see orders_settle_due for the batched sweep)."""
    return orders_settle(order_ids=[order_id]) == 1


def orders_settle_due(*, batch_size: int = 2000) -> int:
    """Settle up to `batch_size` orders whose after-sales window has ended. Returns the count."""
    with transaction.atomic():
        ids = list(
            Order.objects.select_for_update(skip_locked=True)
            .filter(status=Order.Status.RECEIVED, is_held=False, after_sales_ends_at__lte=timezone.now())
            .order_by("after_sales_ends_at", "pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        return _settle_locked(ids)


def orders_settle(*, order_ids: list[int]) -> int:
    with transaction.atomic():
        ids = list(
            Order.objects.select_for_update(skip_locked=True)
            .filter(pk__in=order_ids, status=Order.Status.RECEIVED, is_held=False)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        return _settle_locked(ids)


def _settle_locked(ids: list[int]) -> int:
    """Set-based: a few queries per batch whatever its size (accounts loaded in bulk, one
    INSERT of transactions, one of entries, one UPDATE of orders, one Celery message)."""
    from payments.models import LedgerAccount
    from payments.tasks import transfers_submit_task

    if not ids:
        return 0
    now = timezone.now()
    orders = list(Order.objects.filter(pk__in=ids).prefetch_related("lines"))
    escrow = {a.order_id: a for a in LedgerAccount.objects.filter(kind=Kind.ESCROW, order_id__in=ids)}
    holders: dict[tuple[str, int], LedgerAccount] = {}

    def holder_account(kind: str, *, shop_id: int | None = None, user_id: int | None = None) -> LedgerAccount:
        key = (kind, shop_id or user_id or 0)
        if key not in holders:
            holders[key] = ledger.account_get(
                kind=kind,
                shop=_Ref(shop_id) if shop_id else None,
                user=_Ref(user_id) if user_id else None,
            )
        return holders[key]

    platform = ledger.account_get(kind=Kind.PLATFORM_FEES)
    txns, pending_entries, transfers, events = [], [], [], []
    for order in orders:
        parts = settlement_parts(order, list(order.lines.all()))
        if order.pk not in escrow:
            raise ConflictError(f"Order {order.pk} has no held payment to settle.")
        entries = [(escrow[order.pk], -parts.paid), (platform, parts.platform)]
        for promoter_id, amount in parts.commissions.items():
            entries.append((holder_account(Kind.PROMOTER_AVAILABLE, user_id=promoter_id), amount))
        entries.append((holder_account(Kind.MERCHANT_AVAILABLE, shop_id=order.shop_id), parts.merchant))
        txns.append(
            LedgerTransaction(
                idempotency_key=f"settle:order:{order.pk}", kind=LedgerTransaction.Kind.SETTLEMENT, order=order
            )
        )
        pending_entries.append([(a, amt) for a, amt in entries if amt])
        if parts.merchant > 0:
            transfers.append(Transfer(order=order, shop_id=order.shop_id, amount_minor=parts.merchant))
        events.append(OrderEvent(order=order, kind="settled", note="Completed: the held payment was released."))
    created = LedgerTransaction.objects.bulk_create(txns)
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(transaction=txn, account=acc, amount_minor=amt)
            for txn, entries in zip(created, pending_entries, strict=True)
            for acc, amt in entries
        ]
    )
    Order.objects.filter(pk__in=ids).update(status=Order.Status.SETTLED, settled_at=now)
    made = Transfer.objects.bulk_create(transfers)
    OrderEvent.objects.bulk_create(events)
    transfer_ids = [t.pk for t in made]
    if transfer_ids:
        transaction.on_commit(lambda: transfers_submit_task.delay(transfer_ids))
    return len(ids)


class _Ref:
    """Just enough of a row for account_get: its primary key."""

    def __init__(self, pk: int):
        self.pk = pk


def transfer_submit(*, transfer_id: int) -> Transfer:
    """Send a settled order's merchant part to the shop's connected account, once.

    Ledger: merchant available → payouts in transit when sent; the Stripe transfer
    carries an idempotency key from this row's id.
    """
    from payments import stripe_client

    transfer = Transfer.objects.select_related("shop", "order__group").get(pk=transfer_id)
    if transfer.status != Transfer.Status.PENDING:
        return transfer
    shop = transfer.shop
    if not shop.stripe_account_id:
        # Stays available until the shop connects a payout account; the payout sweeper retries.
        return transfer
    result = stripe_client.transfer_create(
        amount_minor=transfer.amount_minor,
        destination=shop.stripe_account_id,
        transfer_group=f"group_{transfer.order.group_id}",
        idempotency_key=f"transfer-{transfer.pk}",
    )
    with transaction.atomic():
        locked = Transfer.objects.select_for_update().get(pk=transfer_id)
        if locked.status != Transfer.Status.PENDING:
            return locked
        ledger.ledger_post(
            idempotency_key=f"transfer:{transfer.pk}",
            kind=LedgerTransaction.Kind.PAYOUT_SENT,
            order=transfer.order,
            entries=[
                (ledger.account_get(kind=Kind.MERCHANT_AVAILABLE, shop=shop), -transfer.amount_minor),
                (ledger.account_get(kind=Kind.PAYOUTS_IN_TRANSIT, shop=shop), transfer.amount_minor),
            ],
        )
        locked.status = Transfer.Status.SENT
        locked.stripe_transfer_id = result["id"]
        locked.sent_at = timezone.now()
        locked.save(update_fields=["status", "stripe_transfer_id", "sent_at"])
        Order.objects.filter(pk=transfer.order_id).update(transfer_id=result["id"])
    return locked


# --- Reads and reconciliation -----------------------------------------------------------


def order_money(order: Order) -> dict:
    """Where this order's money goes, for the buyer's and merchant's order pages."""
    parts = settlement_parts(order)
    return {
        "paid": order.total_minor,
        "refunded": order.refunded_minor,
        "platform_fee": parts.platform,
        "commission": sum(parts.commissions.values()),
        "merchant": parts.merchant,
        "held": ledger.balance_of(kind=Kind.ESCROW, order=order),
    }


def merchant_balances(*, shop) -> dict:
    held = (
        LedgerEntry.objects.filter(account__kind=Kind.ESCROW, account__order__shop=shop).aggregate(
            s=Sum("amount_minor")
        )["s"]
        or 0
    )
    return {
        "held": held,
        "available": ledger.balance_of(kind=Kind.MERCHANT_AVAILABLE, shop=shop),
        "paid_out": ledger.balance_of(kind=Kind.PAYOUTS_IN_TRANSIT, shop=shop),
    }


@dataclass
class ReconciliationReport:
    problems: list[str]
    checked_orders: int
    ledger_total: int

    @property
    def ok(self) -> bool:
        return not self.problems


def reconcile() -> ReconciliationReport:
    """Prove the books: the ledger sums to zero, every transaction balances, and each
    order's escrow equals paid − refunded − released."""
    problems: list[str] = []
    total = LedgerEntry.objects.aggregate(s=Sum("amount_minor"))["s"] or 0
    if total != 0:
        problems.append(f"ledger sums to {total}, not 0")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT transaction_id, sum(amount_minor) FROM payments_ledgerentry "
            "GROUP BY transaction_id HAVING sum(amount_minor) <> 0 LIMIT 20"
        )
        for txn_id, amount in cursor.fetchall():
            problems.append(f"transaction {txn_id} sums to {amount}")
        cursor.execute(
            """
            SELECT o.id, o.status, o.total_minor, o.refunded_minor,
                   coalesce((SELECT sum(e.amount_minor) FROM payments_ledgerentry e
                             JOIN payments_ledgeraccount a ON a.id = e.account_id
                             WHERE a.kind = 'escrow' AND a.order_id = o.id), 0) AS held
              FROM orders_order o
             WHERE o.paid_at IS NOT NULL
            """
        )
        rows = cursor.fetchall()
    for order_id, status, total_minor, refunded, held in rows:
        released = total_minor - refunded if status == Order.Status.SETTLED else 0
        expected = total_minor - refunded - released
        if held != expected:
            problems.append(f"order {order_id}: escrow {held}, expected {expected} (paid − refunded − released)")
    transfers_sent = Transfer.objects.filter(status=Transfer.Status.SENT).aggregate(s=Sum("amount_minor"))["s"] or 0
    in_transit = (
        LedgerEntry.objects.filter(account__kind=Kind.PAYOUTS_IN_TRANSIT).aggregate(s=Sum("amount_minor"))["s"] or 0
    )
    if transfers_sent != in_transit:
        problems.append(f"transfers sent {transfers_sent} but payouts in transit {in_transit}")
    unsent = Transfer.objects.filter(~Q(status=Transfer.Status.SENT), stripe_transfer_id__gt="").count()
    if unsent:
        problems.append(f"{unsent} transfers have a Stripe id but are not marked sent")
    return ReconciliationReport(problems=problems, checked_orders=len(rows), ledger_total=total)


# --- Payment intents and webhooks -------------------------------------------------------


def payment_intent_ensure(*, group_id: int):
    """Create the group's one PaymentIntent, once, even under concurrent requests.

    Phase 1 claims the group with a conditional UPDATE (the "started" marker); phase 2
    calls Stripe outside any lock, with an idempotency key from the group id; phase 3
    records the answer. A request that loses the claim returns the group as it is.
    """
    from orders.models import OrderGroup
    from payments import stripe_client

    group = OrderGroup.objects.get(pk=group_id)
    if group.payment_intent_id or group.status != OrderGroup.Status.PENDING_PAYMENT:
        return group
    claimed = OrderGroup.objects.filter(pk=group_id, payment_intent_id="").update(payment_intent_id="creating")
    if not claimed:
        group.refresh_from_db()
        return group
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


def webhook_receive(*, payload: bytes, signature: str):
    """Verify and store a Stripe event; handling happens in webhook_event_handle_task.

    Returns (event row, created). A replayed event id is stored once and never handled
    twice. Raises WebhookRejected for a bad signature, a stale timestamp or bad JSON.
    """
    import datetime
    import json

    import stripe

    from payments import stripe_client
    from payments.models import WebhookEvent
    from payments.tasks import webhook_event_handle_task

    if not signature:
        raise WebhookRejected("Missing Stripe-Signature header.")
    try:
        event = stripe_client.webhook_event_verify(payload=payload, signature=signature)
    except ValueError:
        raise WebhookRejected("The body is not a Stripe event (invalid JSON).") from None
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected(f"Signature check failed: {exc.user_message or exc}") from None
    data = event.to_dict()
    created_at = datetime.datetime.fromtimestamp(int(data.get("created", 0)), tz=datetime.UTC)
    with transaction.atomic():
        # The unique stripe_id decides: a replayed event inserts nothing and is not handled again.
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO payments_webhookevent (stripe_id, type, payload, status, error, stripe_created_at, "
                "received_at) VALUES (%s, %s, %s, 'received', '', %s, now()) "
                "ON CONFLICT (stripe_id) DO NOTHING RETURNING id",
                [data["id"], data["type"][:100], json.dumps(data), created_at],
            )
            inserted = cursor.fetchone()
        if inserted:
            event_pk = inserted[0]
            transaction.on_commit(lambda: webhook_event_handle_task.delay(event_pk))
            return WebhookEvent(pk=event_pk, stripe_id=data["id"], type=data["type"]), True
    return WebhookEvent.objects.get(stripe_id=data["id"]), False


class WebhookRejected(DomainError):
    pass


def webhook_event_handle(*, event_id: int) -> str:
    """Apply one stored event, once: the claim, the effect and the final status commit
    together, so a crash leaves the event to be retried and never half-applied."""
    from orders import services as order_services
    from orders.models import OrderGroup
    from payments.models import WebhookEvent
    from payments.tasks import payment_intent_refund_whole_task

    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update(skip_locked=True).filter(pk=event_id).first()
        if event is None or event.status in (WebhookEvent.Status.SUCCEEDED, WebhookEvent.Status.IGNORED):
            return event.status if event else "busy"
        obj = event.payload.get("data", {}).get("object", {})
        status = WebhookEvent.Status.IGNORED
        if event.type == "payment_intent.succeeded":
            group_id = int(obj.get("metadata", {}).get("order_group_id", 0) or 0)
            group = OrderGroup.objects.filter(pk=group_id, payment_intent_id__in=[obj.get("id"), "creating"]).first()
            if group is not None:
                try:
                    with transaction.atomic():
                        order_services.order_group_mark_paid(
                            group_id=group.pk,
                            amount_minor=int(obj.get("amount_received") or obj.get("amount")),
                            payment_intent_id=obj["id"],
                            card_fingerprint=obj.get("metadata", {}).get("card_fingerprint", ""),
                        )
                    status = WebhookEvent.Status.SUCCEEDED
                except (ConflictError, DomainError) as exc:
                    # Paid too late (stock gone) or the wrong amount: the buyer gets the money back.
                    event.error = str(exc)[:1000]
                    transaction.on_commit(lambda: payment_intent_refund_whole_task.delay(obj["id"]))
                    status = WebhookEvent.Status.FAILED
        elif event.type == "payment_intent.payment_failed":
            group_id = int(obj.get("metadata", {}).get("order_group_id", 0) or 0)
            if group_id:
                for order in Order.objects.filter(group_id=group_id, status=Order.Status.PENDING_PAYMENT):
                    message = (obj.get("last_payment_error") or {}).get("message", "The payment failed.")
                    OrderEvent.objects.create(order=order, kind="payment_failed", note=message[:300])
                status = WebhookEvent.Status.SUCCEEDED
        event.status = status
        event.handled_at = timezone.now()
        event.save(update_fields=["status", "handled_at", "error"])
    return event.status


def payment_intent_refund_whole(*, payment_intent_id: str) -> None:
    from payments import stripe_client

    stripe_client.refund_create(
        payment_intent_id=payment_intent_id,
        amount_minor=_intent_amount(payment_intent_id),
        idempotency_key=f"refund-whole-{payment_intent_id}",
    )


def _intent_amount(payment_intent_id: str) -> int:
    from payments.models import WebhookEvent

    event = WebhookEvent.objects.filter(
        type="payment_intent.succeeded", payload__data__object__id=payment_intent_id
    ).first()
    return int(event.payload["data"]["object"]["amount"]) if event else 0
