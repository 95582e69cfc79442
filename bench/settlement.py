"""Money benchmarks: P4 (settlement with commission lines) and P5 (a payout run).

P4 settles 10k, 100k and 1M paid order lines (generated with set-based SQL: four lines an
order, three of them through two promoters) through the real Celery task chain, each
size in a fresh process, and compares with a raw INSERT … SELECT of the same lines in the
same process. P5 runs payouts over 100k payees with the Stripe client replaced at its seam
(payments.stripe_client.transfer_create), then runs again.

Run by `make bench`, or alone: `python -m bench.settlement` with DATABASE_URL and REDIS_URL
set. Uses its own database, `circle_bench_settlement`, recreated for each size.
"""

import os
import subprocess
import sys
import time

from bench.common import ROOT, database_recreate, db_config, django_setup, figure
from payments.split import line_commission_sql

# BENCH_SETTLEMENT_DB: another name, so two worktrees can run this bench on one server at once.
DB_NAME = os.environ.get("BENCH_SETTLEMENT_DB", "circle_bench_settlement")
P4_LINES = [int(x) for x in os.environ.get("BENCH_P4_LINES", "10000,100000,1000000").split(",")]
P5_PAYEES = int(os.environ.get("BENCH_P5_PAYEES", "100000"))
LINES_PER_ORDER = 4
SHOPS = 100
PROMOTERS = 1000

# The commissions captured come from payments.split, as capture computes them.
GENERATE_SQL = (
    """
SET session_replication_role = replica;  -- bench data only: the ledger triggers are off while loading
INSERT INTO orders_ordergroup (buyer_id, idempotency_key, status, currency, total_minor, ship_name, ship_phone,
    ship_address, ship_city, ship_postal_code, ship_country, payment_intent_id, payment_client_secret,
    card_fingerprint, created_at, pay_by, paid_at)
SELECT %(buyer)s, 'p4-' || g, 'paid', 'CNY', 1, 'Bench', '13800000000', '1 Bench Road', 'Hangzhou', '', 'CN',
       'pi_bench_' || g, '', '', now(), now(), now()
  FROM generate_series(1, %(orders)s) g;
INSERT INTO orders_order (group_id, shop_id, buyer_id, status, currency, items_minor, shipping_minor, total_minor,
    platform_fee_bps, refunded_minor, is_held, held_reason, created_at, paid_at, shipped_at, carrier,
    tracking_number, received_at, after_sales_ends_at)
SELECT grp.id, (%(shops)s::bigint[])[1 + grp.id %% %(nshops)s], %(buyer)s, 'received', 'CNY',
       4 * (1000 + grp.id %% 500) + 222, 800, 4 * (1000 + grp.id %% 500) + 1022, 500, 0, false, '',
       now(), now(), now(), 'SF', 'SF123456', now(), now() - interval '1 minute'
  FROM orders_ordergroup grp;
INSERT INTO orders_orderline (order_id, product_id, variant_id, title, variant_name, unit_price_minor, quantity,
    total_minor, promoter_id, commission_bps, commission_base_minor)
SELECT o.id, %(product)s, %(variant)s, 'Item', 'Standard', p.price, 1, p.price,
       CASE WHEN k < 3 THEN (%(promoters)s::bigint[])[1 + o.id %% %(npromoters)s]
            WHEN k = 3 THEN (%(promoters)s::bigint[])[1 + (o.id + 7) %% %(npromoters)s] END,
       CASE WHEN k < 3 THEN 1000 WHEN k = 3 THEN 500 ELSE 0 END,
       CASE WHEN k < 4 THEN p.price ELSE 0 END
  FROM orders_order o
 CROSS JOIN generate_series(1, 4) k
 CROSS JOIN LATERAL (SELECT (o.items_minor - 222) / 4 + (k - 1) * 37) p(price);
CREATE TEMP TABLE gen_commission AS
SELECT l.order_id, l.promoter_id, sum("""  # noqa: S608 (payments.split's SQL, a constant)
    + line_commission_sql(
        base="l.commission_base_minor",
        kept="o.total_minor - o.refunded_minor",
        total="o.total_minor",
        bps="l.commission_bps",
    )  # fmt: skip
    + """) AS amount
  FROM orders_orderline l JOIN orders_order o ON o.id = l.order_id
 WHERE l.promoter_id IS NOT NULL GROUP BY 1, 2;
INSERT INTO payments_ledgeraccount (code, kind, order_id, currency, created_at)
SELECT 'escrow:order:' || o.id, 'escrow', o.id, 'CNY', now() FROM orders_order o;
INSERT INTO payments_ledgertransaction (idempotency_key, kind, order_id, memo, created_at)
SELECT 'capture:order:' || o.id, 'payment_captured', o.id, '', now() FROM orders_order o;
INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_minor, created_at)
SELECT t.id, %(clearing)s, -o.total_minor, now()
  FROM orders_order o JOIN payments_ledgertransaction t ON t.order_id = o.id
UNION ALL
SELECT t.id, a.id, o.total_minor - coalesce(c.amount, 0), now()
  FROM orders_order o JOIN payments_ledgertransaction t ON t.order_id = o.id
  JOIN payments_ledgeraccount a ON a.code = 'escrow:order:' || o.id
  LEFT JOIN (SELECT order_id, sum(amount) AS amount FROM gen_commission GROUP BY 1) c ON c.order_id = o.id
UNION ALL
SELECT t.id, a.id, c.amount, now()
  FROM gen_commission c JOIN payments_ledgertransaction t ON t.order_id = c.order_id
  JOIN payments_ledgeraccount a ON a.code = 'promoter_pending:user:' || c.promoter_id;
DROP TABLE gen_commission;
SET session_replication_role = origin;
"""
)


def _hwm_mb() -> float:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024


def _people(shops: int, promoters: int) -> dict:
    from django.db import connection

    from accounts.models import User
    from payments import ledger
    from payments.ledger import Kind
    from shops import services
    from shops.models import Shop

    buyer = User.objects.create_user(email="buyer@bench.local", password=None)
    owners = User.objects.bulk_create([User(email=f"m{i}@bench.local") for i in range(shops)])
    shop_ids = [services.shop_open(owner=o, name=f"Bench shop {i}").pk for i, o in enumerate(owners)]
    first = Shop.objects.get(pk=shop_ids[0])
    product = services.product_create(shop=first, title="Item", price_minor=1000, commission_bps=1000, stock=1)
    promoter_ids = [u.pk for u in User.objects.bulk_create([User(email=f"p{i}@bench.local") for i in range(promoters)])]
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO payments_ledgeraccount (code, kind, user_id, currency, created_at) "
            "SELECT 'promoter_pending:user:' || id, 'promoter_pending', id, 'CNY', now() FROM unnest(%s) id",
            [promoter_ids],
        )
    return {
        "buyer": buyer.pk, "shops": shop_ids, "nshops": len(shop_ids), "promoters": promoter_ids,
        "npromoters": len(promoter_ids), "product": product.pk, "variant": product.variants.get().pk,
        "clearing": ledger.account_get(kind=Kind.CLEARING).pk,
    }  # fmt: skip


# BENCH_P4_FLOOR=1: also time, at the largest size, only what settlement cannot avoid
# writing, one step more each time (each on fresh data): 1 the locked orders' status;
# 2 + their timeline events; 3 + one balanced ledger transaction, each order's escrow its
# own entry (foreign keys and the balance trigger at work). No commission arithmetic, no
# checks, no merchant or promoter legs: the ceiling for P4-RAW with those essentials.
P4_FLOOR = os.environ.get("BENCH_P4_FLOOR") == "1"
FLOOR_STEPS = {1: "status", 2: "+ events", 3: "+ escrow entries"}
FLOOR_SQL = [
    """CREATE TEMP TABLE floor_orders ON COMMIT DROP AS
       SELECT o.id, o.total_minor,
              (SELECT a.id FROM payments_ledgeraccount a WHERE a.order_id = o.id AND a.kind = 'escrow') AS escrow_id
         FROM orders_order o
        WHERE {due} FOR UPDATE OF o SKIP LOCKED""",
    "UPDATE orders_order SET status = 'settled', settled_at = now() WHERE id = ANY(ARRAY(SELECT id FROM floor_orders))",
    """INSERT INTO orders_orderevent (order_id, kind, actor_id, note, created_at)
       SELECT id, 'settled', NULL, 'Completed: the held payment was released.', now() FROM floor_orders""",
    """WITH t AS (
           INSERT INTO payments_ledgertransaction (idempotency_key, kind, memo, created_at)
           SELECT 'floor:' || min(id), 'settlement', '', now() FROM floor_orders RETURNING id
       )
       INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_minor, created_at)
       SELECT t.id, f.escrow_id, -f.total_minor, now() FROM t, floor_orders f
       UNION ALL
       SELECT t.id, (SELECT id FROM payments_ledgeraccount WHERE kind = 'clearing'), sum(f.total_minor), now()
         FROM t, floor_orders f GROUP BY t.id""",
]


def _floor_run(step: int) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from payments.services import SETTLEMENT_DUE_SQL
    from payments.tasks import SETTLE_BATCH_ORDERS

    # The orders settlement itself would take: its own selection, not a copy of it.
    select_due = FLOOR_SQL[0].format(due=SETTLEMENT_DUE_SQL)
    taken = SETTLE_BATCH_ORDERS
    while taken == SETTLE_BATCH_ORDERS:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(select_due, {"now": timezone.now(), "limit": SETTLE_BATCH_ORDERS})
            taken = cur.rowcount
            for sql in FLOOR_SQL[1 : step + 1] if taken else ():
                cur.execute(sql)


def p4_one(lines: int, floor_step: int = 0) -> None:
    """In a fresh process: generate `lines`, settle them through the task chain (or only
    do floor step `floor_step`), print one result line."""
    from django.db import connection, transaction

    from payments import tasks
    from payments.models import LedgerEntry
    from payments.services import reconcile

    people = _people(SHOPS, PROMOTERS)
    orders = lines // LINES_PER_ORDER
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(GENERATE_SQL, {**people, "orders": orders})
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
        cur.execute("CREATE TABLE bench_raw_lines (LIKE orders_orderline INCLUDING DEFAULTS)")
    # Baseline: the same lines copied by one raw INSERT … SELECT, committed.
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("INSERT INTO bench_raw_lines SELECT * FROM orders_orderline")
    raw_seconds = time.perf_counter() - start
    if floor_step:
        start = time.perf_counter()
        _floor_run(floor_step)
        print(f"P4FLOOR {lines / (time.perf_counter() - start):.1f} {lines / raw_seconds:.1f}")
        return

    # The real chain: beat sends one message; each full batch sends the next.
    queue: list[tuple] = [()]
    sends = 1
    real_delay = tasks.orders_settle_due_task.delay

    def delay(*args, **kwargs):
        nonlocal sends
        sends += 1
        queue.append(args)

    tasks.orders_settle_due_task.delay = delay
    hwm_before = _hwm_mb()
    start = time.perf_counter()
    settled = 0
    while queue:
        settled += tasks.orders_settle_due_task.apply(args=queue.pop()).get()
    seconds = time.perf_counter() - start
    tasks.orders_settle_due_task.delay = real_delay
    assert settled == orders, (settled, orders)
    released = LedgerEntry.objects.filter(transaction__kind="settlement", account__kind="escrow").count()
    assert released == orders, (released, orders)
    report = reconcile()
    if not report.ok:
        raise SystemExit(f"P4: the books do not reconcile after settlement: {report.problems[:5]}")
    print(f"P4RESULT {lines} {lines / seconds:.1f} {lines / raw_seconds:.1f} {sends} {_hwm_mb() - hwm_before:.1f}")


def run_p4() -> dict:
    cfg = db_config()
    results = {}
    for lines in P4_LINES:
        url = database_recreate(cfg, DB_NAME)
        out = subprocess.run(
            [sys.executable, "-m", "bench.settlement", "p4", str(lines)],
            cwd=ROOT, env=dict(os.environ, DATABASE_URL=url), check=True, stdout=subprocess.PIPE, text=True,
        ).stdout  # fmt: skip
        line = next(x for x in out.splitlines() if x.startswith("P4RESULT"))
        _, n, rate, raw, sends, mem = line.split()
        results[int(n)] = (float(rate), float(raw), int(sends), float(mem))
        print(f"P4 raw: {n} lines settled at {float(rate):.0f} lines/s; raw INSERT … SELECT {float(raw):.0f} lines/s; "
              f"{sends} Celery messages; memory growth while settling {float(mem):.1f} MB", flush=True)  # fmt: skip
    largest, rates = max(results), {n: r[0] for n, r in results.items()}
    figure("P4", rates[largest], "lines/s", ">=", 50_000)
    figure("P4-RAW", min(r[0] / r[1] for r in results.values()), "ratio", ">=", 0.25)
    if len(results) > 1:
        previous = sorted(results)[-2]
        figure("P4-LINEAR", rates[largest] / rates[previous], "ratio", ">=", 0.90)
    figure("P4-MSG", results[largest][2] * 1_000_000 / largest, "messages/1M-lines", "<=", 1000)
    figure("P4-MEM", max(r[3] for r in results.values()), "MB", "<=", 64)
    if P4_FLOOR:
        _floor_report(cfg, largest)
    return results


def _floor_report(cfg: dict, lines: int) -> None:
    for step, what in FLOOR_STEPS.items():
        url = database_recreate(cfg, DB_NAME)
        out = subprocess.run(
            [sys.executable, "-m", "bench.settlement", "p4", str(lines), str(step)],
            cwd=ROOT, env=dict(os.environ, DATABASE_URL=url), check=True, stdout=subprocess.PIPE, text=True,
        ).stdout  # fmt: skip
        rate, raw = (float(x) for x in next(x for x in out.splitlines() if x.startswith("P4FLOOR")).split()[1:])
        print(f"P4 floor {step} ({what}): {lines} lines at {rate:.0f} lines/s; raw {raw:.0f}; "
              f"ratio {rate / raw:.3f}", flush=True)  # fmt: skip


# --- P5 -----------------------------------------------------------------------------------

PAYEES_SQL = """
SET session_replication_role = replica;  -- bench data only
INSERT INTO accounts_user (email, password, display_name, is_active, is_staff, is_superuser, date_joined,
                           stripe_account_id)
SELECT 'payee' || g || '@bench.local', '!', '', true, false, false, now(), 'acct_bench_' || g
  FROM generate_series(1, %(payees)s) g;
INSERT INTO payments_ledgeraccount (code, kind, user_id, currency, created_at)
SELECT 'promoter_available:user:' || u.id, 'promoter_available', u.id, 'CNY', now()
  FROM accounts_user u WHERE u.email LIKE 'payee%%';
INSERT INTO payments_ledgertransaction (idempotency_key, kind, memo, created_at)
SELECT 'p5-earned:' || a.id, 'settlement', '', now() FROM payments_ledgeraccount a WHERE a.kind = 'promoter_available';
INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_minor, created_at)
SELECT t.id, a.id, 20000 + a.id %% 1000, now()
  FROM payments_ledgeraccount a JOIN payments_ledgertransaction t ON t.idempotency_key = 'p5-earned:' || a.id
UNION ALL
SELECT t.id, %(clearing)s, -(20000 + a.id %% 1000), now()
  FROM payments_ledgeraccount a JOIN payments_ledgertransaction t ON t.idempotency_key = 'p5-earned:' || a.id;
SET session_replication_role = origin;
"""


def run_p5() -> None:
    url = database_recreate(db_config(), DB_NAME)
    django_setup(url, redis_db=13)
    from django.db import connection, transaction

    from payments import ledger, services, stripe_client
    from payments.ledger import Kind
    from payments.models import Payout

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(PAYEES_SQL, {"payees": P5_PAYEES, "clearing": ledger.account_get(kind=Kind.CLEARING).pk})
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")

    calls = []

    def fake_transfer(*, amount_minor: int, destination: str, idempotency_key: str) -> dict:
        calls.append(idempotency_key)
        return {"id": f"tr_{idempotency_key}"}

    stripe_client.transfer_create = fake_transfer
    start = time.perf_counter()
    with transaction.atomic():
        ids = services.payouts_run(minimum_minor=10_000)
    # What the worker does with the messages the run sent: one per 1,000 payouts.
    for i in range(0, len(ids), services.PAYOUT_SUBMIT_BATCH):
        services.payouts_submit(payout_ids=ids[i : i + services.PAYOUT_SUBMIT_BATCH])
    seconds = time.perf_counter() - start
    paid = Payout.objects.filter(status=Payout.Status.PAID).count()
    assert paid == P5_PAYEES == len(calls), (paid, len(calls))
    first_calls = len(calls)
    again = services.payouts_run(minimum_minor=10_000)
    report = services.reconcile()
    assert report.ok, report.problems[:5]
    print(f"P5 raw: {P5_PAYEES} payees paid in {seconds:.2f} s ({P5_PAYEES / seconds:.0f}/s); second run: "
          f"{len(again)} payouts, {len(calls) - first_calls} transfers", flush=True)  # fmt: skip
    figure("P5", seconds, "s", "<=", 10)
    figure("P5-AGAIN", len(again) + len(calls) - first_calls, "payouts+transfers", "<=", 0)


def main() -> None:
    if len(sys.argv) in (3, 4) and sys.argv[1] == "p4":
        django_setup(os.environ["DATABASE_URL"], redis_db=13)
        p4_one(*(int(x) for x in sys.argv[2:]))
        return
    run_p4()
    run_p5()


if __name__ == "__main__":
    main()
