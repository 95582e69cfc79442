"""Commissions held for an order move between pending and frozen while it is held."""

from orders.models import Order
from payments import ledger
from payments.ledger import Kind
from payments.models import LedgerTransaction
from payments.selectors import commissions_posted


def _commission_move(*, order: Order, source: str, target: str, kind: str) -> None:
    """Move every commission of `order` between pending and frozen (the caller locks the order)."""
    held = {user_id: amount for (k, user_id), amount in commissions_posted([order.pk]).get(order.pk, {}).items()
            if k == source}  # fmt: skip
    if not held:
        return
    entries = []
    for user_id, amount in held.items():
        entries.append((ledger.account_get(kind=source, user=ledger.Holder(user_id)), -amount))
        entries.append((ledger.account_get(kind=target, user=ledger.Holder(user_id)), amount))
    # Holds can come and go more than once; each move gets the next number.
    n = LedgerTransaction.objects.filter(order=order, kind=kind).count()
    ledger.ledger_post(idempotency_key=f"{kind}:order:{order.pk}:{n}", kind=kind, order=order, entries=entries)


def commission_freeze(*, order: Order) -> None:
    """An open dispute or after-sales request: the order's pending commissions wait."""
    _commission_move(
        order=order, source=Kind.PROMOTER_PENDING, target=Kind.PROMOTER_FROZEN,
        kind=LedgerTransaction.Kind.COMMISSION_FROZEN,
    )  # fmt: skip


def commission_unfreeze(*, order: Order) -> None:
    _commission_move(
        order=order, source=Kind.PROMOTER_FROZEN, target=Kind.PROMOTER_PENDING,
        kind=LedgerTransaction.Kind.COMMISSION_UNFROZEN,
    )  # fmt: skip
