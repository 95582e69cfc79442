"""Money movements: every one is a balanced ledger transaction with an idempotency key."""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from marketplace.errors import ConflictError, DomainError
from marketplace.money import bps_share, money_format
from marketplace.prepared import PreparedStatement, execute_in_one_round_trip, instances_fetch, model_columns
from orders import services as order_services
from orders.models import Order, OrderEvent, OrderGroup, OrderLine
from payments import ledger
from payments.ledger import Kind
from payments.models import LedgerEntry, LedgerTransaction, Refund

logger = logging.getLogger(__name__)


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
        parts = settlement_parts(order, by_order.get(order.pk, []))
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


def commissions_posted(order_ids: list[int]) -> dict[int, dict[tuple[str, int], int]]:
    """The commission each order holds today, by (account kind, promoter id): pending or
    frozen amounts posted in the order's ledger transactions."""
    posted: dict[int, dict[tuple[str, int], int]] = {}
    if not order_ids:
        return posted
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.order_id, a.kind, a.user_id, sum(e.amount_minor)
              FROM payments_ledgerentry e
              JOIN payments_ledgertransaction t ON t.id = e.transaction_id
              JOIN payments_ledgeraccount a ON a.id = e.account_id
             WHERE t.order_id = ANY(%s) AND a.kind IN ('promoter_pending', 'promoter_frozen')
             GROUP BY 1, 2, 3 HAVING sum(e.amount_minor) <> 0
            """,
            [list(order_ids)],
        )
        for order_id, kind, user_id, amount in cursor.fetchall():
            posted.setdefault(order_id, {})[(kind, user_id)] = amount
    return posted


def _commission_move(*, order: Order, source: str, target: str, kind: str) -> None:
    """Move every commission of `order` between pending and frozen (the caller locks the order)."""
    held = {user_id: amount for (k, user_id), amount in commissions_posted([order.pk]).get(order.pk, {}).items()
            if k == source}  # fmt: skip
    if not held:
        return
    entries = []
    for user_id, amount in held.items():
        entries.append((ledger.account_get(kind=source, user=_Ref(user_id)), -amount))
        entries.append((ledger.account_get(kind=target, user=_Ref(user_id)), amount))
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


def refund_create(*, order: Order, amount_minor: int, reason: str, chargeback_id: str = "") -> Refund:
    """Return `amount_minor` of an order to its buyer; Stripe is called after commit by
    refund_submit_task. The caller holds the order's row lock. With `chargeback_id` the
    card issuer already took the money back (a lost chargeback): the same postings, no call.

    Before settlement the money comes out of the order's escrow and the commissions on the
    refunded part are voided pro rata. After settlement each party gives back what the
    refund changes of its part: the merchant's and promoters' balances may go negative,
    a debt netted against their next payout."""
    from payments.tasks import refund_submit_task

    remaining = order.total_minor - order.refunded_minor
    if not 0 < amount_minor <= remaining:
        raise DomainError(f"A refund must be between 0.01 and what is still held ({remaining} minor units).")
    lines = list(order.lines.all())
    before = settlement_parts(order, lines)
    after = settlement_parts(order, lines, refunded_minor=order.refunded_minor + amount_minor)
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
            account = ledger.account_get(kind=Kind.PROMOTER_AVAILABLE, user=_Ref(promoter_id))
            entries.append((account, after.commissions.get(promoter_id, 0) - amount))
    else:
        voided = 0
        for (kind, promoter_id), held in commissions_posted([order.pk]).get(order.pk, {}).items():
            void = held - min(held, after.commissions.get(promoter_id, 0))
            entries.append((ledger.account_get(kind=kind, user=_Ref(promoter_id)), -void))
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


def settlement_parts(order: Order, lines=None, *, refunded_minor: int | None = None) -> SettlementParts:
    """Split what the buyer paid and kept (total − refunded).

    Platform fee and commissions round down (marketplace.money.bps_share); the merchant
    takes the remainder, so the parts always add up to the whole.
    """
    refunded = order.refunded_minor if refunded_minor is None else refunded_minor
    kept = order.total_minor - refunded
    if kept <= 0:
        return SettlementParts(paid=0, platform=0)
    platform = bps_share(kept, order.platform_fee_bps)
    commissions: dict[int, int] = {}
    for line in lines if lines is not None else order.lines.all():
        if line.promoter_id and line.commission_bps:
            # A partial refund shrinks every commission base in proportion (rounded down).
            base = line.commission_base_minor * kept // order.total_minor
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


# What buyer and merchant read of a settlement hold: the reason itself names accounts and
# other people's commissions, so it stays with staff.
SETTLEMENT_HOLD_NOTE = "On hold: Circle Market is checking this order's payment before releasing it."


@dataclass
class SettlementBatch:
    """What one settlement batch did: the orders it settled, and those it put on hold
    instead because they failed a check (order id → reason)."""

    settled: int = 0
    held: dict[int, str] = field(default_factory=dict)

    @property
    def taken(self) -> int:
        return self.settled + len(self.held)


# The orders (`o`) due for settlement, oldest first: received, not held, after-sales window
# over. Parameters: now, limit. The settlement bench's floor selects with it too.
SETTLEMENT_DUE_SQL = (
    "o.status = 'received' AND NOT o.is_held AND o.after_sales_ends_at <= %(now)s "
    "ORDER BY o.after_sales_ends_at, o.id LIMIT %(limit)s"
)


def orders_settle_due_batch(*, batch_size: int = 2000) -> SettlementBatch:
    """Settle up to `batch_size` orders whose after-sales window has ended, oldest first."""
    return _settle(SETTLEMENT_DUE_SQL, {"now": timezone.now(), "limit": batch_size})


def orders_settle_due(*, batch_size: int = 2000) -> int:
    """As orders_settle_due_batch; returns how many orders were settled."""
    return orders_settle_due_batch(batch_size=batch_size).settled


def orders_settle(*, order_ids: list[int]) -> int:
    """Settle these orders if they are due for it; returns how many were settled."""
    return _settle(
        "o.id = ANY(%(ids)s) AND o.status = 'received' AND NOT o.is_held ORDER BY o.id", {"ids": list(order_ids)}
    ).settled


# Why settlement refuses an order, by the account that does not hold what it should;
# formatted with (promoter id, due, held).
_SETTLE_PROBLEMS = {
    "kept": "fees and commissions ({1}) exceed what was kept ({2})",
    "escrow": "its escrow holds {2}, not the {1} expected",
    "promoter_pending": "promoter {0}'s pending commission is {2}, not the {1} due",
    "promoter_frozen": "promoter {0} still has {2} of commission frozen",
}

# The platform fee of an order row `o` in SQL: what was kept, at the order's rate, rounded
# down, as marketplace.money.bps_share rounds.
PLATFORM_FEE_SQL = "(o.total_minor - o.refunded_minor) * o.platform_fee_bps / 10000"


def _settle(selection: str, params: dict) -> SettlementBatch:
    """Lock the orders `selection` picks (skipping those another batch holds) and settle
    them in SQL: a fixed number of statements per batch whatever its size. The batch lives
    in temporary tables on the server; only counts, and the orders that fail a check,
    come into Python.

    One balanced ledger transaction per batch: each order's escrow out (its own entry);
    platform fees, each shop's merchant available and each promoter's commission (pending
    → available) in, summed over the batch's orders. The arithmetic is
    settlement_parts' (floor, merchant takes the remainder), written in SQL; the tests
    hold the two to the same results.

    Before anything is posted each order must hold exactly what settlement releases: its
    escrow kept − commissions, and each promoter's pending commission the one due now (as
    posted when the order was paid and changed by refunds), nothing frozen. An order that
    does not is put on hold with the reason (orders.services.order_hold: its commissions
    frozen, a timeline event) for an admin to look at; the rest of the batch settles.

    Every lookup per order goes through an index on the order id (orders, lines, the
    order's ledger transactions, its escrow account): a batch costs the same in a ledger
    of a thousand orders or of millions."""
    currency = settings.MARKETPLACE_CURRENCY
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            -- Short set-based statements: JIT compiling costs more than it saves, and sorts fit in memory.
            SET LOCAL jit = off;
            SET LOCAL work_mem = '64MB';
            -- Dropped at commit; dropped here too for a second batch in one transaction.
            DROP TABLE IF EXISTS pg_temp.settle_orders, pg_temp.settle_commissions, pg_temp.settle_held,
                pg_temp.settle_accounts;
            """
        )
        cursor.execute(
            f"""
            CREATE TEMP TABLE settle_orders ON COMMIT DROP AS
            SELECT o.id AS order_id, o.shop_id, o.total_minor, o.total_minor - o.refunded_minor AS kept,
                   ({PLATFORM_FEE_SQL})::bigint AS platform, 0::bigint AS commission,
                   (SELECT a.id FROM payments_ledgeraccount a WHERE a.order_id = o.id AND a.kind = 'escrow')
                   AS escrow_id,
                   (SELECT coalesce(sum(e.amount_minor), 0)::bigint FROM payments_ledgeraccount a
                      JOIN payments_ledgerentry e ON e.account_id = a.id
                     WHERE a.order_id = o.id AND a.kind = 'escrow') AS escrow_held
              FROM orders_order o
             WHERE {selection}
               FOR UPDATE OF o SKIP LOCKED;
            """,  # noqa: S608 - PLATFORM_FEE_SQL and the selections are constants of this module
            params,
        )
        if not cursor.rowcount:
            return SettlementBatch()
        # Lookups into the big tables are lateral subqueries, one index probe per order:
        # as joins, the planner may prefer scanning every order line or ledger transaction.
        cursor.execute(
            """
            CREATE TEMP TABLE settle_commissions ON COMMIT DROP AS
            SELECT s.order_id, c.promoter_id, c.amount::bigint AS amount
              FROM settle_orders s
             CROSS JOIN LATERAL (
                SELECT l.promoter_id, sum((l.commission_base_minor * s.kept / s.total_minor) * l.commission_bps / 10000)
                       AS amount
                  FROM orders_orderline l
                 WHERE l.order_id = s.order_id AND l.promoter_id IS NOT NULL AND l.commission_bps > 0
                 GROUP BY 1
             ) c
             WHERE s.kept > 0 AND c.amount <> 0;
            -- What each order holds for its promoters: commissions move only in the
            -- order's own transactions until it is settled.
            CREATE TEMP TABLE settle_held ON COMMIT DROP AS
            SELECT s.order_id, h.account_id, h.amount::bigint AS amount
              FROM settle_orders s
             CROSS JOIN LATERAL (
                SELECT e.account_id, sum(e.amount_minor) AS amount
                  FROM payments_ledgertransaction t
                  JOIN payments_ledgerentry e ON e.transaction_id = t.id
                 WHERE t.order_id = s.order_id AND e.account_id IS DISTINCT FROM s.escrow_id
                 GROUP BY 1
             ) h
             WHERE h.amount <> 0;
            -- Which of those accounts are promoters' commissions: one probe per account
            -- (clearing, refunds, a thousand promoters), not one per entry.
            CREATE TEMP TABLE settle_accounts ON COMMIT DROP AS
            SELECT id, kind, user_id FROM payments_ledgeraccount
             WHERE id = ANY(ARRAY(SELECT DISTINCT account_id FROM settle_held))
               AND kind IN ('promoter_pending', 'promoter_frozen');
            UPDATE settle_orders s SET commission = c.total
              FROM (SELECT order_id, sum(amount) AS total FROM settle_commissions GROUP BY 1) c
             WHERE c.order_id = s.order_id;
            """
        )
        # What settlement would release against what each order holds, account by account.
        cursor.execute(
            """
            SELECT order_id, 'kept', NULL::bigint, platform + commission, kept FROM settle_orders
             WHERE kept - platform - commission < 0
            UNION ALL
            SELECT order_id, 'escrow', NULL, kept - commission, escrow_held FROM settle_orders
             WHERE escrow_held <> kept - commission
            UNION ALL
            SELECT coalesce(h.order_id, c.order_id), coalesce(h.kind, c.kind), coalesce(h.promoter_id, c.promoter_id),
                   coalesce(c.amount, 0), coalesce(h.amount, 0)
              FROM (SELECT h.order_id, a.kind, a.user_id AS promoter_id, h.amount
                      FROM settle_held h JOIN settle_accounts a ON a.id = h.account_id) h
              FULL JOIN (SELECT order_id, 'promoter_pending'::varchar AS kind, promoter_id, amount
                           FROM settle_commissions) c
                ON c.order_id = h.order_id AND c.kind = h.kind AND c.promoter_id = h.promoter_id
             WHERE h.amount IS DISTINCT FROM c.amount
             ORDER BY 1, 2, 3
            """
        )
        problems: dict[int, list[str]] = {}
        for order_id, kind, promoter_id, due, held in cursor.fetchall():
            reason = _SETTLE_PROBLEMS[kind].format(promoter_id, money_format(due), money_format(held))
            problems.setdefault(order_id, []).append(reason)
        batch = SettlementBatch(held={pk: f"Settlement refused: {'; '.join(why)}." for pk, why in problems.items()})
        if problems:
            cursor.execute(
                "DELETE FROM settle_orders WHERE order_id = ANY(%(ids)s); "
                "DELETE FROM settle_commissions WHERE order_id = ANY(%(ids)s);",
                {"ids": list(problems)},
            )
        cursor.execute(
            """
            INSERT INTO payments_ledgeraccount (code, kind, shop_id, user_id, order_id, currency, created_at)
            SELECT 'platform_fees:platform', 'platform_fees', NULL::bigint, NULL::bigint, NULL::bigint, %(cur)s, now()
            UNION ALL
            SELECT DISTINCT 'merchant_available:shop:' || shop_id, 'merchant_available', shop_id, NULL::bigint,
                   NULL::bigint, %(cur)s, now()
              FROM settle_orders
            UNION ALL
            SELECT DISTINCT 'promoter_available:user:' || promoter_id, 'promoter_available', NULL::bigint,
                   promoter_id, NULL::bigint, %(cur)s, now()
              FROM settle_commissions
            ON CONFLICT (code) DO NOTHING;
            """,
            {"cur": currency},
        )
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE kept > 0), min(order_id) FILTER (WHERE kept > 0), "
            "max(order_id) FILTER (WHERE kept > 0) FROM settle_orders"
        )
        batch.settled, paying, first, last = cursor.fetchone()
        # Orders whose whole payment was refunded release nothing: no transaction for them.
        if paying:
            cursor.execute(
                "INSERT INTO payments_ledgertransaction (idempotency_key, kind, order_id, memo, created_at) "
                "VALUES (%s, 'settlement', NULL, %s, now()) RETURNING id",
                [f"settle:batch:{first}-{last}:{paying}", f"{paying} orders settled"],
            )
            txn = cursor.fetchone()[0]
            cursor.execute(
                """
                INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_minor, created_at)
                SELECT %(txn)s, s.escrow_id, -(s.kept - s.commission), now()
                  FROM settle_orders s WHERE s.kept - s.commission <> 0
                UNION ALL
                SELECT %(txn)s, (SELECT id FROM payments_ledgeraccount WHERE code = 'platform_fees:platform'),
                       sum(s.platform), now()
                  FROM settle_orders s HAVING sum(s.platform) <> 0
                UNION ALL
                -- One index probe per shop and per promoter for the account ids, never a
                -- join over every account.
                SELECT %(txn)s,
                       (SELECT id FROM payments_ledgeraccount WHERE code = 'merchant_available:shop:' || m.shop_id),
                       m.amount, now()
                  FROM (SELECT shop_id, sum(kept - platform - commission) AS amount FROM settle_orders GROUP BY 1) m
                 WHERE m.amount <> 0
                UNION ALL
                SELECT %(txn)s, (SELECT id FROM payments_ledgeraccount WHERE code = x.prefix || p.promoter_id),
                       x.sign * p.amount, now()
                  FROM (SELECT promoter_id, sum(amount) AS amount FROM settle_commissions GROUP BY 1) p
                 CROSS JOIN (VALUES ('promoter_pending:user:', -1), ('promoter_available:user:', 1)) AS x(prefix, sign)
                """,
                {"txn": txn},
            )
        cursor.execute(
            """
            -- By an index probe per order whatever the planner thinks of the temporary table's size.
            UPDATE orders_order SET status = 'settled', settled_at = now()
             WHERE id = ANY(ARRAY(SELECT order_id FROM settle_orders));
            INSERT INTO orders_orderevent (order_id, kind, actor_id, note, created_at)
            SELECT order_id, 'settled', NULL, 'Completed: the held payment was released.', now() FROM settle_orders;
            """
        )
        # Few by nature (a bug or a hand-made correction); the hold path is the one disputes use.
        for order_id, reason in batch.held.items():
            logger.warning("settlement put order %s on hold: %s", order_id, reason)
            order_services.order_hold(order_id=order_id, reason=reason, note=SETTLEMENT_HOLD_NOTE)
    return batch


class _Ref:
    """Just enough of a row for account_get: its primary key."""

    def __init__(self, pk: int):
        self.pk = pk


# --- Payouts -----------------------------------------------------------------------------

PAYOUT_SUBMIT_BATCH = 5000


def payouts_run(*, minimum_minor: int | None = None, shop_ids=None, user_ids=None) -> list[int]:
    """Open one payout for every shop and promoter whose available balance reaches the
    minimum, has a connected account and no payout hold. Returns the new payout ids.

    Set-based: one INSERT of payouts and a few INSERTs of ledger rows (available → in
    transit) however many payees. Runs take turns on an advisory lock, and a payee with a
    payout still in transit is skipped, so a second or concurrent run pays nobody twice.
    `shop_ids` / `user_ids` limit the run to some payees (the admin's "retry now")."""
    from payments.tasks import payouts_submit_task

    minimum = settings.MARKETPLACE_PAYOUT_MINIMUM_MINOR if minimum_minor is None else minimum_minor
    only = shop_ids is not None or user_ids is not None
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('payouts_run'))")
        # Candidates first, in their own table: were the NOT EXISTS checks part of the
        # INSERT, each would scan the rows that INSERT is adding (quadratic).
        cursor.execute(
            """
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
            )
            SELECT b.shop_id, b.user_id, b.amount, coalesce(s.stripe_account_id, u.stripe_account_id) AS destination
              FROM balances b
              LEFT JOIN shops_shop s ON s.id = b.shop_id
              LEFT JOIN accounts_user u ON u.id = b.user_id
             WHERE coalesce(s.stripe_account_id, u.stripe_account_id, '') <> ''
               AND coalesce(s.status, 'active') <> 'suspended'
               -- One NOT EXISTS per payee column, so each can use its index.
               AND NOT EXISTS (SELECT 1 FROM payments_payouthold h WHERE h.lifted_at IS NULL AND h.shop_id = b.shop_id)
               AND NOT EXISTS (SELECT 1 FROM payments_payouthold h WHERE h.lifted_at IS NULL AND h.user_id = b.user_id)
               AND NOT EXISTS (SELECT 1 FROM payments_payout p WHERE p.status = 'in_transit' AND p.shop_id = b.shop_id)
               AND NOT EXISTS (SELECT 1 FROM payments_payout p WHERE p.status = 'in_transit' AND p.user_id = b.user_id);
            """,
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


# The available account of a payout's payee, as account_get names it, in SQL.
_PAYEE_AVAILABLE = (
    "CASE WHEN p.shop_id IS NOT NULL THEN 'merchant_available:shop:' || p.shop_id "
    "ELSE 'promoter_available:user:' || p.user_id END"
)


def _payouts_post(cursor, ids: list[int], *, step: str) -> None:
    """One balanced ledger transaction for a set of payouts, in two statements however
    many there are. sent: each payee's available → payouts in transit; paid: in transit
    → paid out; failed: in transit → each payee's available. The in-transit and paid-out
    accounts are the platform's; per payee they are the sums of its Payout rows, which
    reconciliation holds equal to these accounts."""
    kind = {"sent": LedgerTransaction.Kind.PAYOUT_SENT, "paid": LedgerTransaction.Kind.PAYOUT_PAID,
            "failed": LedgerTransaction.Kind.PAYOUT_FAILED}[step]  # fmt: skip
    in_transit = ledger.account_get(kind=Kind.PAYOUTS_IN_TRANSIT).pk
    paid = ledger.account_get(kind=Kind.PAYOUTS_PAID).pk
    cursor.execute(
        "INSERT INTO payments_ledgertransaction (idempotency_key, kind, order_id, memo, created_at) "
        "VALUES (%s, %s, NULL, %s, now()) RETURNING id",
        [f"payouts:{step}:{min(ids)}-{max(ids)}:{len(ids)}", kind, f"{len(ids)} payouts {step}"],
    )
    txn = cursor.fetchone()[0]
    per_payee = f"""
        SELECT %(txn)s, a.id, {"-" if step == "sent" else ""}p.amount_minor, now()
          FROM payments_payout p JOIN payments_ledgeraccount a ON a.code = {_PAYEE_AVAILABLE}
         WHERE p.id = ANY(%(ids)s)
    """  # noqa: S608 - fragments are constants of this module
    total = (
        "SELECT %(txn)s, %(account)s::bigint, {sign}sum(p.amount_minor), now() "
        "FROM payments_payout p WHERE p.id = ANY(%(ids)s)"
    )
    legs = {
        "sent": [per_payee, total.format(sign="")],
        "paid": [total.format(sign="-"), total.replace("%(account)s", "%(paid)s").format(sign="")],
        "failed": [total.format(sign="-"), per_payee],
    }[step]
    cursor.execute(
        "INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_minor, created_at) "
        + " UNION ALL ".join(legs),
        {"txn": txn, "ids": ids, "account": in_transit, "paid": paid},
    )


def payouts_submit(*, payout_ids: list[int]) -> dict:
    """Send each payout in transit to Stripe, once: the transfer's idempotency key comes
    from the payout id, so a retry after a crash finds the same transfer. A refused
    transfer fails the payout and returns its money to available, with Stripe's reason;
    an outage leaves it in transit for payouts_sweep_task to send again."""
    from payments import stripe_client
    from payments.models import Payout

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
    from payments import stripe_client

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
    from payments.models import PayoutHold

    reason = reason.strip()
    if not reason:
        raise DomainError("Give the reason for the hold.", field="reason")
    return PayoutHold.objects.create(shop=shop, user=user, reason=reason[:200], created_by=by)


def payout_hold_lift(*, hold_id: int) -> None:
    from payments.models import PayoutHold

    PayoutHold.objects.filter(pk=hold_id, lifted_at__isnull=True).update(lifted_at=timezone.now())


# --- Reads and reconciliation -----------------------------------------------------------


def order_money(order: Order) -> dict:
    """Where this order's money goes, for the buyer's and merchant's order pages."""
    parts = settlement_parts(order)
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
    from payments.models import Payout

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


# --- Payment intents and webhooks -------------------------------------------------------


# A "creating" marker older than this is taken to be left by a process that died between
# Stripe's answer and recording it. Creating again is safe even if that process is only slow:
# the idempotency key comes from the group id, so Stripe answers with the same PaymentIntent
# (or refuses while the first call is still in flight).
PAYMENT_INTENT_CLAIM_STALE = timedelta(minutes=2)


_PAYMENT_INTENT_CLAIM = PreparedStatement(
    "payment_intent_claim",
    """
    UPDATE orders_ordergroup SET payment_intent_id = 'creating', payment_intent_started_at = now()
     WHERE id = %(group)s AND status = %(pending)s
       AND (payment_intent_id = ''
            OR (payment_intent_id = 'creating'
                AND (payment_intent_started_at IS NULL OR payment_intent_started_at < now() - %(stale)s)))
    RETURNING """  # noqa: S608 (the model's own column names)
    + model_columns(OrderGroup),
    group="bigint",
    pending="text",
    stale="interval",
)

_PAYMENT_INTENT_RECORD = PreparedStatement(
    "payment_intent_record",
    "UPDATE orders_ordergroup SET payment_intent_id = %(intent)s, payment_client_secret = %(client_secret)s "
    "WHERE id = %(group)s",
    intent="text",
    client_secret="text",  # noqa: S106 (a parameter's SQL type, not a secret)
    group="bigint",
)

_COMMIT_WITHOUT_FLUSH_WAIT = PreparedStatement(
    "commit_without_flush_wait", "SELECT set_config('synchronous_commit', 'off', true)"
)


def _without_flush_wait(cursor, statement: PreparedStatement, values: dict) -> None:
    """Run `statement` as its own transaction that commits without waiting for the WAL flush
    (unless the caller's transaction holds it, which then decides).

    For the claim and the record of a PaymentIntent: a database crash may lose the last few
    such commits, and that is harmless. A lost claim or record leaves the group as it was
    before, so it is claimed again and the create call, keyed on the group id, gets the same
    PaymentIntent back from Stripe; a payment that arrives meanwhile is taken by a group still
    waiting for its intent. Any later durable commit flushes them too."""
    if connection.in_atomic_block:
        statement.execute(cursor, values)
    else:
        # Sent together, the two run as one implicit transaction; set_config(..., true) is
        # local to it.
        execute_in_one_round_trip(cursor, (_COMMIT_WITHOUT_FLUSH_WAIT, {}), (statement, values))


def payment_intent_ensure(*, group_id: int, placed: OrderGroup | None = None):
    """Create the group's one PaymentIntent, once, even under concurrent requests.

    Phase 1 claims the group with a conditional UPDATE (the "creating" marker, when it is
    blank or stale); phase 2 calls Stripe outside any lock, with an idempotency key from the
    group id; phase 3 records the answer. A request that loses the claim returns the group as
    it is. `placed` is the group as checkout_place returned it to this caller: when that call
    placed it, it was born claimed by this caller and phase 1 is skipped (once: the instance
    is marked as used).
    """
    from payments import stripe_client

    if placed is not None and placed.placed_now and placed.pk == group_id:
        group, placed.placed_now = placed, False
    else:
        with connection.cursor() as cursor:
            _without_flush_wait(
                cursor,
                _PAYMENT_INTENT_CLAIM,
                {"group": group_id, "pending": OrderGroup.Status.PENDING_PAYMENT, "stale": PAYMENT_INTENT_CLAIM_STALE},
            )
            claimed = instances_fetch(cursor, OrderGroup)
        if not claimed:
            return OrderGroup.objects.get(pk=group_id)
        group = claimed[0]
    try:
        intent = stripe_client.payment_intent_create(
            amount_minor=group.total_minor, group_id=group.pk, idempotency_key=f"pi-group-{group.pk}"
        )
    except stripe_client.StripeFailure:
        OrderGroup.objects.filter(pk=group_id, payment_intent_id="creating").update(payment_intent_id="")
        raise
    with connection.cursor() as cursor:
        _without_flush_wait(
            cursor,
            _PAYMENT_INTENT_RECORD,
            {"intent": intent["id"], "client_secret": intent["client_secret"], "group": group_id},
        )
    group.payment_intent_id, group.payment_client_secret = intent["id"], intent["client_secret"]
    return group


class PaymentIntentPending(Exception):
    """The PaymentIntent is being created (the "creating" marker): its id is not known yet."""


def payment_intent_cancel(*, group_id: int) -> str:
    """Cancel an expired group's PaymentIntent at Stripe, so that it can no longer be paid.

    Returns Stripe's status for it: "canceled", or "succeeded" when the buyer paid first (the
    webhook handler refunds that payment); "" when the group has none, or a "creating" marker
    gone stale: its creator died before the client secret reached anyone who could pay. Raises
    PaymentIntentPending while it is being created, for the task to retry: the creating
    request records the id soon.
    """
    from payments import stripe_client

    group = OrderGroup.objects.get(pk=group_id)
    if group.status != OrderGroup.Status.EXPIRED or not group.payment_intent_id:
        return ""
    if group.payment_intent_id == "creating":
        started = group.payment_intent_started_at
        if started is None or started < timezone.now() - PAYMENT_INTENT_CLAIM_STALE:
            return ""
        raise PaymentIntentPending(f"Order group {group.pk}: its PaymentIntent is being created.")
    return stripe_client.payment_intent_cancel(
        payment_intent_id=group.payment_intent_id, idempotency_key=f"pi-cancel-group-{group.pk}"
    )


def webhook_receive(*, payload: bytes, signature: str):
    """Verify a Stripe event, then store it and apply it in one transaction.

    Returns (event row, created). The unique stripe_id decides: a replayed event changes
    nothing. A payment that cannot be taken is stored as failed and sent back to the buyer,
    once. If applying the event fails otherwise, it is stored as received and left to
    webhook_event_handle_task (and the sweeper) to retry. Raises WebhookRejected for a bad
    signature, a stale timestamp or bad JSON.
    """
    import stripe

    from payments import stripe_client
    from payments.models import WebhookEvent
    from payments.tasks import payment_intent_refund_whole_task, webhook_event_handle_task

    if not signature:
        raise WebhookRejected("Missing Stripe-Signature header.")
    try:
        data = stripe_client.webhook_event_verify(payload=payload, signature=signature)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected(f"Signature check failed: {exc.user_message or exc}") from None
    except ValueError:
        # Not UTF-8, not JSON, or JSON that is not an object.
        raise WebhookRejected("The body is not a Stripe event (invalid JSON).") from None
    if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        raise WebhookRejected("The body is not a Stripe event (it has no id or type).")
    obj = data.get("data", {}).get("object", {})
    try:
        with transaction.atomic(durable=True):
            # The effect first, then the row: a replayed event finds its id taken, and whatever
            # its effect did is rolled back with it.
            row = _webhook_event_insert(data, payload, status=_webhook_event_apply(data["type"], obj))
            if row is None:
                raise _Replayed
    except _Replayed:
        row = None
    except PaymentRefused as exc:
        with transaction.atomic(durable=True):
            row = _webhook_event_insert(data, payload, status=WebhookEvent.Status.FAILED, error=str(exc))
            if row is not None:
                transaction.on_commit(lambda: payment_intent_refund_whole_task.delay(obj["id"]))
    except Exception:
        logger.exception("stripe webhook %s could not be applied; the worker retries it", data["id"])
        with transaction.atomic(durable=True):
            row = _webhook_event_insert(data, payload, status=WebhookEvent.Status.RECEIVED)
            if row is not None:
                transaction.on_commit(lambda: webhook_event_handle_task.delay(row.pk))
    if row is None:
        return WebhookEvent.objects.get(stripe_id=data["id"]), False
    return row, True


class WebhookRejected(DomainError):
    pass


class PaymentRefused(Exception):
    """A payment that cannot be taken (the wrong amount, a checkout that expired): the buyer
    gets the whole PaymentIntent back."""


class _Replayed(Exception):
    pass


_WEBHOOK_EVENT_INSERT = PreparedStatement(
    "webhook_event_insert",
    """
    INSERT INTO payments_webhookevent (stripe_id, type, payload, status, error, stripe_created_at, received_at,
                                       handled_at)
    VALUES (%(stripe_id)s, %(type)s, %(payload)s, %(status)s, %(error)s, %(created)s, now(),
            CASE WHEN %(handled)s THEN now() END)
    ON CONFLICT (stripe_id) DO NOTHING RETURNING id
    """,
    stripe_id="text",
    type="text",
    payload="jsonb",
    status="text",
    error="text",
    created="timestamptz",
    handled="boolean",
)


def _webhook_event_insert(data: dict, payload: bytes, *, status: str, error: str = ""):
    """Store an event (the body as Stripe sent it) once; None if its id was stored before.
    A status other than received means it was applied in this transaction."""
    import datetime

    from payments.models import WebhookEvent

    created_at = datetime.datetime.fromtimestamp(int(data.get("created", 0)), tz=datetime.UTC)
    with connection.cursor() as cursor:
        _WEBHOOK_EVENT_INSERT.execute(
            cursor,
            {"stripe_id": data["id"], "type": data["type"][:100], "payload": payload.decode(), "status": status,
             "error": error[:1000], "created": created_at, "handled": status != WebhookEvent.Status.RECEIVED},
        )  # fmt: skip
        inserted = cursor.fetchone()
    if inserted is None:
        return None
    return WebhookEvent(pk=inserted[0], stripe_id=data["id"], type=data["type"], status=status)


# Event types other apps handle (disputes: chargebacks), registered from their AppConfig.ready
# so that payments never imports them. A handler gets the event's data.object and returns
# True if the event meant something to it.
WEBHOOK_HANDLERS: dict = {}


def webhook_handler_register(event_type: str, handler) -> None:
    WEBHOOK_HANDLERS[event_type] = handler


def _webhook_event_apply(event_type: str, obj: dict) -> str:
    """What an event does, in the caller's transaction; returns the status to record.
    Raises PaymentRefused, having changed nothing, for a payment that cannot be taken."""
    from payments.models import WebhookEvent

    group_id = int(obj.get("metadata", {}).get("order_group_id", 0) or 0)
    if event_type == "payment_intent.succeeded":
        try:
            order_services.order_group_mark_paid(
                group_id=group_id,
                amount_minor=int(obj.get("amount_received") or obj.get("amount")),
                payment_intent_id=obj["id"],
                card_fingerprint=obj.get("metadata", {}).get("card_fingerprint", ""),
            )
        except OrderGroup.DoesNotExist:
            # Not one of our groups, or not its PaymentIntent.
            return WebhookEvent.Status.IGNORED
        except DomainError as exc:
            # Paid for a checkout that expired, or the wrong amount.
            raise PaymentRefused(str(exc)) from exc
        return WebhookEvent.Status.SUCCEEDED
    if event_type in WEBHOOK_HANDLERS:
        return WebhookEvent.Status.SUCCEEDED if WEBHOOK_HANDLERS[event_type](obj) else WebhookEvent.Status.IGNORED
    if event_type == "payment_intent.payment_failed" and group_id:
        message = (obj.get("last_payment_error") or {}).get("message", "The payment failed.")
        OrderEvent.objects.bulk_create(
            [
                OrderEvent(order=order, kind="payment_failed", note=message[:300])
                for order in Order.objects.filter(group_id=group_id, status=Order.Status.PENDING_PAYMENT)
            ]
        )
        return WebhookEvent.Status.SUCCEEDED
    return WebhookEvent.Status.IGNORED


def webhook_event_handle(*, event_id: int) -> str:
    """Apply a stored event that was not applied on arrival, or again (a redelivered task
    message). The claim, the effect and the final status commit together, so a crash leaves
    the event to be retried and never half-applied."""
    from payments.models import WebhookEvent
    from payments.tasks import payment_intent_refund_whole_task

    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update(skip_locked=True).filter(pk=event_id).first()
        if event is None or event.status in (WebhookEvent.Status.SUCCEEDED, WebhookEvent.Status.IGNORED):
            return event.status if event else "busy"
        obj = event.payload.get("data", {}).get("object", {})
        try:
            with transaction.atomic():
                event.status = _webhook_event_apply(event.type, obj)
        except PaymentRefused as exc:
            event.status, event.error = WebhookEvent.Status.FAILED, str(exc)[:1000]
            transaction.on_commit(lambda: payment_intent_refund_whole_task.delay(obj["id"]))
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
