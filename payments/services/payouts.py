"""Payouts: available balances leave as Stripe Connect transfers, each once."""

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from marketplace.errors import DomainError
from payments import ledger, stripe_client
from payments.ledger import Kind
from payments.models import LedgerTransaction, Payout, PayoutHold
from payments.services.commission_holds import HELD_BY_PROMOTER_SQL

PAYOUT_SUBMIT_BATCH = 5000


def payouts_run(*, minimum_minor: int | None = None, shop_ids=None, user_ids=None) -> list[int]:
    """Open one payout for every shop and promoter whose available balance reaches the
    minimum, has a connected account and no payout hold. Returns the new payout ids.

    Set-based: one INSERT of payouts and a few INSERTs of ledger rows (available → in
    transit) however many payees. Runs take turns on an advisory lock, and a payee with a
    payout still in transit is skipped, so a second or concurrent run pays nobody twice.
    `shop_ids` / `user_ids` limit the run to some payees (the admin's "retry now")."""
    # payments.tasks imports this package: the task is looked up when it is enqueued.
    from payments.tasks import payouts_submit_task

    minimum = settings.MARKETPLACE_PAYOUT_MINIMUM_MINOR if minimum_minor is None else minimum_minor
    only = shop_ids is not None or user_ids is not None
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('payouts_run'))")
        # Candidates first, in their own table: were the NOT EXISTS checks part of the
        # INSERT, each would scan the rows that INSERT is adding (quadratic).
        cursor.execute(
            f"""
            DROP TABLE IF EXISTS pg_temp.payout_candidates;
            CREATE TEMP TABLE payout_candidates ON COMMIT DROP AS
            WITH balances AS (
                SELECT a.shop_id, a.user_id, sum(e.amount_minor) AS amount
                  FROM payments_ledgeraccount a
                  JOIN payments_ledgerentry e ON e.account_id = a.id
                 WHERE a.kind IN ('merchant_available', 'promoter_available')
                   AND (NOT %(only)s OR a.shop_id = ANY(%(shops)s) OR a.user_id = ANY(%(users)s))
                 GROUP BY a.id
                HAVING sum(e.amount_minor) >= greatest(%(minimum)s, 1)
            ), held AS ({HELD_BY_PROMOTER_SQL})
            -- Commissions on fraud review stay in the available balance, unpaid.
            SELECT b.shop_id, b.user_id, b.amount - coalesce(held.amount, 0) AS amount,
                   coalesce(s.stripe_account_id, u.stripe_account_id) AS destination
              FROM balances b
              LEFT JOIN held ON held.user_id = b.user_id
              LEFT JOIN shops_shop s ON s.id = b.shop_id
              LEFT JOIN accounts_user u ON u.id = b.user_id
             WHERE coalesce(s.stripe_account_id, u.stripe_account_id, '') <> ''
               AND coalesce(s.status, 'active') <> 'suspended'
               AND b.amount - coalesce(held.amount, 0) >= greatest(%(minimum)s, 1)
               -- One NOT EXISTS per payee column, so each can use its index.
               AND NOT EXISTS (SELECT 1 FROM payments_payouthold h WHERE h.lifted_at IS NULL AND h.shop_id = b.shop_id)
               AND NOT EXISTS (SELECT 1 FROM payments_payouthold h WHERE h.lifted_at IS NULL AND h.user_id = b.user_id)
               AND NOT EXISTS (SELECT 1 FROM payments_payout p WHERE p.status = 'in_transit' AND p.shop_id = b.shop_id)
               AND NOT EXISTS (SELECT 1 FROM payments_payout p WHERE p.status = 'in_transit' AND p.user_id = b.user_id);
            """,  # noqa: S608 - HELD_BY_PROMOTER_SQL is a constant of commission_holds
            {"only": only, "shops": list(shop_ids or []), "users": list(user_ids or []), "minimum": minimum},
        )
        cursor.execute(
            """
            INSERT INTO payments_payout (shop_id, user_id, amount_minor, destination, status,
                                         stripe_transfer_id, failure_reason, created_at)
            SELECT shop_id, user_id, amount, destination, 'in_transit', '', '', now() FROM payout_candidates
            RETURNING id
            """
        )
        ids = [row[0] for row in cursor.fetchall()]
        if ids:
            _payouts_post(cursor, ids, step="sent")
    for start in range(0, len(ids), PAYOUT_SUBMIT_BATCH):
        chunk = ids[start : start + PAYOUT_SUBMIT_BATCH]
        transaction.on_commit(lambda chunk=chunk: payouts_submit_task.delay(chunk))
    return ids


# What each step moves, from one side to the other: "payee" is each payout's own payee's
# available account (one entry per payout), otherwise a platform account (one entry for the
# sum). The in-transit and paid-out accounts are the platform's; per payee they are the sums
# of its Payout rows, which reconciliation holds equal to these accounts.
_STEPS = {
    "sent": (LedgerTransaction.Kind.PAYOUT_SENT, "payee", Kind.PAYOUTS_IN_TRANSIT),
    "paid": (LedgerTransaction.Kind.PAYOUT_PAID, Kind.PAYOUTS_IN_TRANSIT, Kind.PAYOUTS_PAID),
    "failed": (LedgerTransaction.Kind.PAYOUT_FAILED, Kind.PAYOUTS_IN_TRANSIT, "payee"),
}
# The payee's available account, as ledger.account_get names it.
_PAYEE_LEG = """
    SELECT %(txn)s, a.id, %({side}_sign)s * p.amount_minor, now()
      FROM payments_payout p
      JOIN payments_ledgeraccount a ON a.code = CASE WHEN p.shop_id IS NOT NULL
                                                     THEN 'merchant_available:shop:' || p.shop_id
                                                     ELSE 'promoter_available:user:' || p.user_id END
     WHERE p.id = ANY(%(ids)s)
"""
_PLATFORM_LEG = """
    SELECT %(txn)s, %({side}_account)s::bigint, %({side}_sign)s * sum(p.amount_minor), now()
      FROM payments_payout p WHERE p.id = ANY(%(ids)s)
"""


def _payouts_post(cursor, ids: list[int], *, step: str) -> None:
    """One balanced ledger transaction for a set of payouts, in two statements however
    many there are (sent: available → in transit; paid: in transit → paid out; failed: in
    transit → available). Set-based SQL: P5 pays 10^5 payees in one run."""
    kind, source, target = _STEPS[step]
    txn = LedgerTransaction.objects.create(
        idempotency_key=f"payouts:{step}:{min(ids)}-{max(ids)}:{len(ids)}", kind=kind, memo=f"{len(ids)} payouts {step}"
    )
    params = {"txn": txn.pk, "ids": ids, "from_sign": -1, "to_sign": 1}
    legs = []
    for side, account in (("from", source), ("to", target)):
        if account == "payee":
            legs.append(_PAYEE_LEG.format(side=side))
        else:
            legs.append(_PLATFORM_LEG.format(side=side))
            params[f"{side}_account"] = ledger.account_get(kind=account).pk
    cursor.execute(
        "INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_minor, created_at) "
        + " UNION ALL ".join(legs),
        params,
    )


def payouts_submit(*, payout_ids: list[int]) -> dict:
    """Send each payout in transit to Stripe, once: the transfer's idempotency key comes
    from the payout id, so a retry after a crash finds the same transfer. A refused
    transfer fails the payout and returns its money to available, with Stripe's reason;
    an outage leaves it in transit for payouts_sweep_task to send again."""
    todo = Payout.objects.filter(pk__in=payout_ids, status=Payout.Status.IN_TRANSIT).values_list(
        "pk", "amount_minor", "destination"
    )
    paid: list[tuple[int, str]] = []
    failed: list[tuple[int, str]] = []
    waiting = 0
    for pk, amount, destination in todo:
        try:
            result = stripe_client.transfer_create(
                amount_minor=amount, destination=destination, idempotency_key=f"payout-{pk}"
            )
        except stripe_client.StripeFailure as exc:
            if exc.permanent:
                failed.append((pk, exc.user_message))
            else:
                waiting += 1
            continue
        paid.append((pk, result["id"]))
    payouts_finish(paid=paid, failed=failed)
    return {"paid": len(paid), "failed": len(failed), "waiting": waiting}


def payouts_finish(*, paid: list[tuple[int, str]], failed: list[tuple[int, str]]) -> None:
    """Record Stripe's answers: paid (in transit → paid out) or failed (back to available)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for rows, status, column in ((paid, "paid", "stripe_transfer_id"), (failed, "failed", "failure_reason")):
            if not rows:
                continue
            cursor.execute(
                f"""
                UPDATE payments_payout p SET status = %s, {column} = v.value, finished_at = now()
                  FROM unnest(%s::bigint[], %s::text[]) AS v(id, value)
                 WHERE p.id = v.id AND p.status = 'in_transit'
                RETURNING p.id
                """,  # noqa: S608 - column names are constants of this function
                [status, [pk for pk, _ in rows], [value[:300] for _, value in rows]],
            )
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                _payouts_post(cursor, ids, step=status)


def payout_account_connect(*, shop=None, user=None) -> str:
    """Give a shop or a promoter a Stripe Connect account to receive payouts (once)."""
    holder = shop if shop is not None else user
    if holder.stripe_account_id:
        return holder.stripe_account_id
    email = shop.owner.email if shop is not None else user.email
    kind = "shop" if shop is not None else "user"
    account_id = stripe_client.account_create(email=email, idempotency_key=f"account-{kind}-{holder.pk}")
    holder._meta.model.objects.filter(pk=holder.pk, stripe_account_id="").update(stripe_account_id=account_id)
    holder.refresh_from_db(fields=["stripe_account_id"])
    return holder.stripe_account_id


def payout_hold_place(*, reason: str, shop=None, user=None, by=None):
    reason = reason.strip()
    if not reason:
        raise DomainError("Give the reason for the hold.", field="reason")
    return PayoutHold.objects.create(shop=shop, user=user, reason=reason[:200], created_by=by)


def payout_hold_lift(*, hold_id: int) -> None:
    PayoutHold.objects.filter(pk=hold_id, lifted_at__isnull=True).update(lifted_at=timezone.now())
