"""Reads of money: an order's split and holdings, balances of shops and promoters."""

from django.db.models import Sum

from orders.models import Order
from payments import ledger, split
from payments.ledger import Kind
from payments.models import LedgerEntry, Payout


def commissions_posted(order_ids: list[int]) -> dict[int, dict[tuple[str, int], int]]:
    """The commission each order holds today, by (account kind, promoter id): pending or
    frozen amounts posted in the order's ledger transactions."""
    posted: dict[int, dict[tuple[str, int], int]] = {}
    if not order_ids:
        return posted
    rows = (
        LedgerEntry.objects.filter(
            transaction__order_id__in=list(order_ids),
            account__kind__in=[Kind.PROMOTER_PENDING, Kind.PROMOTER_FROZEN],
        )
        .values_list("transaction__order_id", "account__kind", "account__user_id")
        .annotate(amount=Sum("amount_minor"))
        .exclude(amount=0)
    )
    for order_id, kind, user_id, amount in rows:
        posted.setdefault(order_id, {})[(kind, user_id)] = amount
    return posted


def order_money(order: Order) -> dict:
    """Where this order's money goes, for the buyer's and merchant's order pages."""
    parts = split.settlement_parts(order)
    # A settlement batch moves commissions to available in one transaction for many orders,
    # so a settled order's own transactions still show them pending: nothing is held then.
    settled = order.status == Order.Status.SETTLED
    commission_held = 0 if settled else sum(commissions_posted([order.pk]).get(order.pk, {}).values())
    return {
        "paid": order.total_minor,
        "refunded": order.refunded_minor,
        "platform_fee": parts.platform,
        "commission": sum(parts.commissions.values()),
        "merchant": parts.merchant,
        "held": ledger.balance_of(kind=Kind.ESCROW, order=order) + commission_held,
    }


def _balances(**holder) -> dict[str, int]:
    key = "account__shop" if "shop" in holder else "account__user"
    rows = (
        LedgerEntry.objects.filter(**{key: next(iter(holder.values()))})
        .values_list("account__kind")
        .annotate(s=Sum("amount_minor"))
    )
    return dict(rows)


def _payout_sums(**payee) -> dict[str, int]:
    sums = dict(Payout.objects.filter(**payee).values_list("status").annotate(s=Sum("amount_minor")))
    return {"in_transit": sums.get(Payout.Status.IN_TRANSIT, 0), "paid_out": sums.get(Payout.Status.PAID, 0)}


def merchant_balances(*, shop) -> dict:
    held = (
        LedgerEntry.objects.filter(account__kind=Kind.ESCROW, account__order__shop=shop).aggregate(
            s=Sum("amount_minor")
        )["s"]
        or 0
    )
    by_kind = _balances(shop=shop)
    return {"held": held, "available": by_kind.get(Kind.MERCHANT_AVAILABLE, 0), **_payout_sums(shop=shop)}


def promoter_balances(*, user) -> dict:
    by_kind = _balances(user=user)
    return {
        "pending": by_kind.get(Kind.PROMOTER_PENDING, 0),
        "frozen": by_kind.get(Kind.PROMOTER_FROZEN, 0),
        "available": by_kind.get(Kind.PROMOTER_AVAILABLE, 0),
        **_payout_sums(user=user),
    }
