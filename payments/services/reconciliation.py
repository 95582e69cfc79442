"""Reconciliation: prove the books."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from orders.models import Order
from payments.ledger import Kind
from payments.models import LedgerEntry, LedgerTransaction, Payout


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
    unbalanced = (
        LedgerEntry.objects.values_list("transaction_id").annotate(s=Sum("amount_minor")).exclude(s=0).order_by()[:20]
    )
    for txn_id, amount in unbalanced:
        problems.append(f"transaction {txn_id} sums to {amount}")
    for txn_id in LedgerTransaction.objects.filter(~Exists(LedgerEntry.objects.filter(transaction=OuterRef("pk"))))[
        :20
    ].values_list("pk", flat=True):
        problems.append(f"transaction {txn_id} has no entries")
    payouts = dict(
        Payout.objects.filter(status__in=[Payout.Status.IN_TRANSIT, Payout.Status.PAID])
        .values_list("status")
        .annotate(s=Sum("amount_minor"))
        .order_by()
    )
    commission_kinds = [Kind.PROMOTER_PENDING, Kind.PROMOTER_FROZEN]
    pending_total = (
        LedgerEntry.objects.filter(account__kind__in=commission_kinds).aggregate(s=Sum("amount_minor"))["s"] or 0
    )
    # An open order holds paid − refunded, in its escrow and its promoters' pending (or
    # frozen) commissions; a settled one released it all (commissions in its batch).
    # Streamed in chunks (a server-side cursor): memory stays flat however many orders.
    escrow = (
        LedgerEntry.objects.filter(account__kind=Kind.ESCROW, account__order_id=OuterRef("pk"))
        .values("account__order_id")
        .annotate(s=Sum("amount_minor"))
        .values("s")
    )
    commission = (
        LedgerEntry.objects.filter(account__kind__in=commission_kinds, transaction__order_id=OuterRef("pk"))
        .values("transaction__order_id")
        .annotate(s=Sum("amount_minor"))
        .values("s")
    )
    rows = (
        Order.objects.filter(paid_at__isnull=False)
        .annotate(escrow=Coalesce(Subquery(escrow), 0), commission=Coalesce(Subquery(commission), 0))
        .values_list("pk", "status", "total_minor", "refunded_minor", "escrow", "commission")
        .order_by()
    )
    open_commissions = checked = 0
    for order_id, status, total_minor, refunded, escrow_held, commission_held in rows.iterator(chunk_size=2000):
        checked += 1
        if status == Order.Status.SETTLED:
            held, expected = escrow_held, 0
        else:
            held, expected = escrow_held + commission_held, total_minor - refunded
            open_commissions += commission_held
        if held != expected:
            problems.append(f"order {order_id}: holds {held}, expected {expected} (paid − refunded − released)")
    if pending_total != open_commissions:
        problems.append(f"promoters' pending commissions {pending_total}, but open orders hold {open_commissions}")
    for status, kind in ((Payout.Status.IN_TRANSIT, Kind.PAYOUTS_IN_TRANSIT), (Payout.Status.PAID, Kind.PAYOUTS_PAID)):
        in_ledger = LedgerEntry.objects.filter(account__kind=kind).aggregate(s=Sum("amount_minor"))["s"] or 0
        if payouts.get(status, 0) != in_ledger:
            problems.append(f"payouts {status} total {payouts.get(status, 0)} but the {kind} accounts hold {in_ledger}")
    return ReconciliationReport(problems=problems, checked_orders=checked, ledger_total=total)
