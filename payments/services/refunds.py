"""Refunds: the ledger postings at once, the Stripe call after commit."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from marketplace.errors import ConflictError, DomainError
from orders.models import Order
from payments import ledger, split, stripe_client
from payments.ledger import Kind
from payments.models import LedgerTransaction, Refund
from payments.selectors import commissions_posted


def refund_create(*, order: Order, amount_minor: int, reason: str, chargeback_id: str = "") -> Refund:
    """Return `amount_minor` of an order to its buyer; Stripe is called after commit by
    refund_submit_task. The caller holds the order's row lock. With `chargeback_id` the
    card issuer already took the money back (a lost chargeback): the same postings, no call.

    Before settlement the money comes out of the order's escrow and the commissions on the
    refunded part are voided pro rata. After settlement each party gives back what the
    refund changes of its part: the merchant's and promoters' balances may go negative,
    a debt netted against their next payout."""
    # payments.tasks imports this module: the task is looked up when it is enqueued.
    from payments.tasks import refund_submit_task

    remaining = order.total_minor - order.refunded_minor
    if not 0 < amount_minor <= remaining:
        raise DomainError(f"A refund must be between 0.01 and what is still held ({remaining} minor units).")
    lines = list(order.lines.all())
    before = split.settlement_parts(order, lines)
    after = split.settlement_parts(order, lines, refunded_minor=order.refunded_minor + amount_minor)
    if chargeback_id:
        refund = Refund.objects.create(
            order=order, amount_minor=amount_minor, reason=reason[:200], kind=Refund.Kind.CHARGEBACK,
            status=Refund.Status.SUCCEEDED, stripe_refund_id=chargeback_id[:100], submitted_at=timezone.now(),
        )  # fmt: skip
    else:
        refund = Refund.objects.create(order=order, amount_minor=amount_minor, reason=reason[:200])
    entries = [(ledger.account_get(kind=Kind.REFUNDS), amount_minor)]
    if order.status == Order.Status.SETTLED:
        entries.append(
            (ledger.account_get(kind=Kind.MERCHANT_AVAILABLE, shop=order.shop), after.merchant - before.merchant)
        )
        entries.append((ledger.account_get(kind=Kind.PLATFORM_FEES), after.platform - before.platform))
        for promoter_id, amount in before.commissions.items():
            account = ledger.account_get(kind=Kind.PROMOTER_AVAILABLE, user=ledger.Holder(promoter_id))
            entries.append((account, after.commissions.get(promoter_id, 0) - amount))
    else:
        voided = 0
        for (kind, promoter_id), held in commissions_posted([order.pk]).get(order.pk, {}).items():
            void = held - min(held, after.commissions.get(promoter_id, 0))
            entries.append((ledger.account_get(kind=kind, user=ledger.Holder(promoter_id)), -void))
            voided += void
        escrow = ledger.account_get(kind=Kind.ESCROW, order=order)
        if ledger.balance(escrow) + voided < amount_minor:
            raise ConflictError("Not enough money is held for this order to refund that much.")
        entries.append((escrow, voided - amount_minor))
    ledger.ledger_post(
        idempotency_key=f"refund:{refund.pk}", kind=LedgerTransaction.Kind.REFUND, order=order, memo=reason,
        entries=entries,
    )  # fmt: skip
    Order.objects.filter(pk=order.pk).update(refunded_minor=F("refunded_minor") + amount_minor)
    order.refunded_minor += amount_minor
    if not chargeback_id:
        transaction.on_commit(lambda: refund_submit_task.delay(refund.pk))
    return refund


def refund_submit(*, refund_id: int) -> Refund:
    """Send a refund to Stripe once. Three phases: claim, call, record."""
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
        )
    except stripe_client.StripeFailure as exc:
        Refund.objects.filter(pk=refund_id).update(error=str(exc)[:300], submitted_at=None)
        raise
    Refund.objects.filter(pk=refund_id).update(status=Refund.Status.SUCCEEDED, stripe_refund_id=result["id"])
    refund.refresh_from_db()
    return refund
