"""Reconciliation: prove the books."""

from dataclasses import dataclass

from django.db import connection
from django.db.models import Sum

from orders.models import Order
from payments.ledger import Kind
from payments.models import LedgerEntry


@dataclass
class ReconciliationReport:
    problems: list[str]
    checked_orders: int
    ledger_total: int

    @property
    def ok(self) -> bool:
        return not self.problems


def reconcile() -> ReconciliationReport:
    """Prove the books: the ledger sums to zero, every transaction balances, each order
    holds paid − refunded − released (escrow plus its pending commissions), and payouts
    match the in-transit and paid-out accounts."""
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
            "SELECT t.id FROM payments_ledgertransaction t WHERE NOT EXISTS "
            "(SELECT 1 FROM payments_ledgerentry e WHERE e.transaction_id = t.id) LIMIT 20"
        )
        for (txn_id,) in cursor.fetchall():
            problems.append(f"transaction {txn_id} has no entries")
        cursor.execute(
            """
            SELECT p.status, sum(p.amount_minor) FROM payments_payout p
             WHERE p.status IN ('in_transit', 'paid') GROUP BY p.status
            """
        )
        payouts = dict(cursor.fetchall())
        cursor.execute(
            "SELECT coalesce(sum(e.amount_minor), 0) FROM payments_ledgerentry e JOIN payments_ledgeraccount a "
            "ON a.id = e.account_id WHERE a.kind IN ('promoter_pending', 'promoter_frozen')"
        )
        pending_total = cursor.fetchone()[0]
    # An open order holds paid − refunded, in its escrow and its promoters' pending (or
    # frozen) commissions; a settled one released it all (commissions in its batch).
    # Streamed through a server-side cursor: memory stays flat however many orders.
    open_commissions = checked = 0
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            """
            WITH escrow AS (
                SELECT a.order_id, sum(e.amount_minor) AS amount
                  FROM payments_ledgerentry e JOIN payments_ledgeraccount a ON a.id = e.account_id
                 WHERE a.kind = 'escrow' GROUP BY a.order_id
            ), commission AS (
                SELECT t.order_id, sum(e.amount_minor) AS amount
                  FROM payments_ledgerentry e
                  JOIN payments_ledgertransaction t ON t.id = e.transaction_id
                  JOIN payments_ledgeraccount a ON a.id = e.account_id
                 WHERE t.order_id IS NOT NULL AND a.kind IN ('promoter_pending', 'promoter_frozen')
                 GROUP BY t.order_id
            )
            SELECT o.id, o.status, o.total_minor, o.refunded_minor, coalesce(x.amount, 0), coalesce(c.amount, 0)
              FROM orders_order o
              LEFT JOIN escrow x ON x.order_id = o.id
              LEFT JOIN commission c ON c.order_id = o.id
             WHERE o.paid_at IS NOT NULL
            """
        )
        for order_id, status, total_minor, refunded, escrow, commission in cursor:
            checked += 1
            if status == Order.Status.SETTLED:
                held, expected = escrow, 0
            else:
                held, expected = escrow + commission, total_minor - refunded
                open_commissions += commission
            if held != expected:
                problems.append(f"order {order_id}: holds {held}, expected {expected} (paid − refunded − released)")
    if pending_total != open_commissions:
        problems.append(f"promoters' pending commissions {pending_total}, but open orders hold {open_commissions}")
    for status, kind in (("in_transit", Kind.PAYOUTS_IN_TRANSIT), ("paid", Kind.PAYOUTS_PAID)):
        in_ledger = LedgerEntry.objects.filter(account__kind=kind).aggregate(s=Sum("amount_minor"))["s"] or 0
        if payouts.get(status, 0) != in_ledger:
            problems.append(f"payouts {status} total {payouts.get(status, 0)} but the {kind} accounts hold {in_ledger}")
    return ReconciliationReport(problems=problems, checked_orders=checked, ledger_total=total)
