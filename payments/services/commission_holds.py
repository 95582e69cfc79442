"""Commission holds: one order line's commission kept back for fraud review.

A hold never refuses the sale and never moves money while it is open: the commission
follows the order through settlement as usual, and the payout run leaves the held amount
of settled lines out of the promoter's payout (HELD_BY_PROMOTER_SQL). Released, the next
payout pays it. Voided, one balanced posting gives it back to the merchant whose sale
paid it (promoter available → merchant available), so reconcile() holds; a line whose
order has not settled yet waits as "voiding" and is voided when it has."""

from django.db import transaction
from django.utils import timezone

from marketplace.errors import ConflictError
from orders.models import Order, OrderLine
from payments import ledger, split
from payments.ledger import Kind
from payments.models import CommissionHold, LedgerTransaction

OPEN = (CommissionHold.Status.HELD, CommissionHold.Status.VOIDING)

# What each promoter (user_id) has held in settled lines, in SQL: the line's commission by
# payments.split's rule. The payout run subtracts it from the available balance.
HELD_BY_PROMOTER_SQL = f"""
    SELECT h.promoter_id AS user_id, sum({
    split.line_commission_sql(
        base="l.commission_base_minor",
        kept="o.total_minor - o.refunded_minor",
        total="o.total_minor",
        bps="l.commission_bps",
    )
}) AS amount
      FROM payments_commissionhold h
      JOIN orders_orderline l ON l.id = h.line_id
      JOIN orders_order o ON o.id = l.order_id
     WHERE h.status IN ('held', 'voiding') AND o.settled_at IS NOT NULL
     GROUP BY 1
"""  # noqa: S608 - the split's SQL, a constant of payments.split


def line_commission_minor(*, line: OrderLine) -> int:
    """The line's commission as settlement pays it (payments.split's rule)."""
    order = line.order
    if not line.promoter_id or not line.commission_bps:
        return 0
    return split.settlement_parts(order, [line]).commissions.get(line.promoter_id, 0)


def commission_hold_place(*, line: OrderLine, category: str, reason: str) -> CommissionHold | None:
    """Hold the line's commission; the open hold it already has stays (first reason wins).
    Lines without a commission have nothing to hold: None."""
    if not line.promoter_id or not line.commission_bps:
        return None
    existing = CommissionHold.objects.filter(line=line, status__in=OPEN).first()
    if existing is not None:
        return existing
    return CommissionHold.objects.create(
        line=line, promoter_id=line.promoter_id, category=category, reason=reason[:300]
    )


def commission_hold_release(*, hold_id: int, reason: str) -> CommissionHold:
    """Staff cleared it: the next payout pays the commission."""
    with transaction.atomic():
        hold = CommissionHold.objects.select_for_update().get(pk=hold_id)
        if hold.status != CommissionHold.Status.HELD:
            raise ConflictError(f"This commission hold is {hold.get_status_display().lower()}, not held.")
        hold.status = CommissionHold.Status.RELEASED
        hold.decision_reason = reason[:300]
        hold.decided_at = timezone.now()
        hold.save(update_fields=["status", "decision_reason", "decided_at"])
    return hold


def commission_hold_void(*, hold_id: int, reason: str) -> CommissionHold:
    """Staff confirmed fraud: the commission goes back to the merchant through the ledger,
    now if the order has settled, otherwise when it does (commission_holds_void_settled)."""
    with transaction.atomic():
        hold = CommissionHold.objects.select_for_update().get(pk=hold_id)
        if hold.status not in OPEN:
            raise ConflictError(f"This commission hold is {hold.get_status_display().lower()} already.")
        hold.status = CommissionHold.Status.VOIDING
        hold.decision_reason = reason[:300]
        hold.decided_at = timezone.now()
        hold.save(update_fields=["status", "decision_reason", "decided_at"])
        _void_if_settled(hold)
    return hold


def commission_holds_void_settled() -> int:
    """Void the confirmed holds whose orders have settled since; returns how many."""
    ids = list(
        CommissionHold.objects.filter(
            status=CommissionHold.Status.VOIDING, line__order__settled_at__isnull=False
        ).values_list("pk", flat=True)
    )
    for pk in ids:
        with transaction.atomic():
            hold = CommissionHold.objects.select_for_update().get(pk=pk)
            if hold.status == CommissionHold.Status.VOIDING:
                _void_if_settled(hold)
    return len(ids)


def _void_if_settled(hold: CommissionHold) -> None:
    """The caller holds the hold's row lock."""
    order = Order.objects.select_for_update().get(pk=hold.line.order_id)
    if order.settled_at is None:
        return
    amount = line_commission_minor(line=OrderLine.objects.select_related("order").get(pk=hold.line_id))
    if amount:
        ledger.ledger_post(
            idempotency_key=f"commission_void:hold:{hold.pk}",
            kind=LedgerTransaction.Kind.ADJUSTMENT,
            order=order,
            memo=f"Commission of line {hold.line_id} voided after fraud review",
            entries=[
                (ledger.account_get(kind=Kind.PROMOTER_AVAILABLE, user=ledger.Holder(hold.promoter_id)), -amount),
                (ledger.account_get(kind=Kind.MERCHANT_AVAILABLE, shop=ledger.Holder(order.shop_id)), amount),
            ],
        )
    hold.status = CommissionHold.Status.VOIDED
    hold.voided_minor = amount
    hold.save(update_fields=["status", "voided_minor"])
