"""Capture: a paid order group's money leaves payment clearing and is held per order."""

from orders.models import Order, OrderLine
from payments import ledger, split
from payments.ledger import Kind
from payments.models import LedgerTransaction


def escrow_capture(*, orders: list[Order], lines: list[OrderLine]) -> None:
    """Paid: each order's total leaves payment clearing. The promoters' commissions become
    pending in their names; the rest is held in the order's escrow account. One balanced
    transaction per order, all posted together. `lines` are the orders' lines that carry a
    commission (the others add nothing to settlement_parts)."""
    by_order: dict[int, list[OrderLine]] = {}
    for line in lines:
        by_order.setdefault(line.order_id, []).append(line)
    postings = []
    for order in orders:
        parts = split.settlement_parts(order, by_order.get(order.pk, []))
        entries = [
            (ledger.AccountRef(Kind.CLEARING), -order.total_minor),
            (ledger.AccountRef(Kind.ESCROW, order_id=order.pk), order.total_minor - sum(parts.commissions.values())),
        ]
        for promoter_id, amount in parts.commissions.items():
            entries.append((ledger.AccountRef(Kind.PROMOTER_PENDING, user_id=promoter_id), amount))
        postings.append(
            ledger.Posting(
                idempotency_key=f"capture:order:{order.pk}",
                kind=LedgerTransaction.Kind.PAYMENT_CAPTURED,
                order_id=order.pk,
                entries=entries,
            )
        )
    ledger.ledger_post_many(postings)


# Checks other apps run on a paid group's commission lines before the money is captured
# (referrals: the buyer's card seen on a promoter), registered from their AppConfig.ready
# so that payments never imports them. A screen gets group_id, card_fingerprint and lines
# and may hold or refuse commissions through its own app's models.
CAPTURE_SCREENS: list = []


def capture_screen_register(screen) -> None:
    if screen not in CAPTURE_SCREENS:
        CAPTURE_SCREENS.append(screen)


def capture_screens_run(*, group_id: int, card_fingerprint: str, lines: list[OrderLine]) -> None:
    for screen in CAPTURE_SCREENS:
        screen(group_id=group_id, card_fingerprint=card_fingerprint, lines=lines)
