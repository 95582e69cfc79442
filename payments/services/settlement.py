"""Settlement: release held orders in set-based batches."""

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from marketplace.money import money_format
from orders.models import Order, OrderEvent
from payments import split
from payments.services.order_transitions import order_hold

logger = logging.getLogger(__name__)

# One line's commission (`l`) of a settling order (`s`), in SQL: payments.split's rule.
_LINE_COMMISSION_SQL = split.line_commission_sql(
    base="l.commission_base_minor", kept="s.kept", total="s.total_minor", bps="l.commission_bps"
)

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


# The orders among ids (parameter) that may be settled now.
SETTLEMENT_IDS_SQL = "o.id = ANY(%(ids)s) AND o.status = 'received' AND NOT o.is_held ORDER BY o.id"


def orders_settle_due_batch(*, batch_size: int = 2000) -> SettlementBatch:
    """Settle up to `batch_size` orders whose after-sales window has ended, oldest first."""
    return _settle(SETTLEMENT_DUE_SQL, {"now": timezone.now(), "limit": batch_size})


def orders_settle(*, order_ids: list[int]) -> int:
    """Settle these orders if they are due for it; returns how many were settled."""
    return _settle(SETTLEMENT_IDS_SQL, {"ids": list(order_ids)}).settled


# Why settlement refuses an order, by the account that does not hold what it should;
# formatted with (promoter id, due, held).
_SETTLE_PROBLEMS = {
    "kept": "fees and commissions ({1}) exceed what was kept ({2})",
    "escrow": "its escrow holds {2}, not the {1} expected",
    "promoter_pending": "promoter {0}'s pending commission is {2}, not the {1} due",
    "promoter_frozen": "promoter {0} still has {2} of commission frozen",
}


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
                   ({split.PLATFORM_FEE_SQL})::bigint AS platform, 0::bigint AS commission,
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
            f"""
            CREATE TEMP TABLE settle_commissions ON COMMIT DROP AS
            SELECT s.order_id, c.promoter_id, c.amount::bigint AS amount
              FROM settle_orders s
             CROSS JOIN LATERAL (
                SELECT l.promoter_id, sum({_LINE_COMMISSION_SQL}) AS amount
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
            """  # noqa: S608 - the split's SQL, a constant of payments.split
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
            UPDATE orders_order SET status = %(settled)s, settled_at = now()
             WHERE id = ANY(ARRAY(SELECT order_id FROM settle_orders));
            INSERT INTO orders_orderevent (order_id, kind, actor_id, note, created_at)
            SELECT order_id, %(event)s, NULL, %(note)s, now() FROM settle_orders;
            """,
            {
                "settled": Order.Status.SETTLED,
                "event": OrderEvent.Kind.SETTLED,
                "note": "Completed: the held payment was released.",
            },
        )
        # Few by nature (a bug or a hand-made correction); the hold path is the one disputes use.
        for order_id, reason in batch.held.items():
            logger.warning("settlement put order %s on hold: %s", order_id, reason)
            order_hold(order_id=order_id, held_by=Order.HeldBy.SETTLEMENT, reason=reason, note=SETTLEMENT_HOLD_NOTE)
    return batch
