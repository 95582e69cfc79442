"""Fraud benchmarks: T3 (recall and false flags of the nightly ring scan) and P8 (its time).

A population generated set-based (INSERT … SELECT generate_series, in its own database):
N honest accounts, one in twenty owning a shop, five orders each at pseudo-random shops, a
third through a pseudo-random promoter's link; each account with its own card, address and
device. Benign sharing that must not be flagged: families of four at one address, couples
sharing a card, café networks shared by ~20 accounts, resold phones (two accounts on one
device). Planted rings: commission rings (five shop owners on one device buying from each
other through each other's links), brushing farms (eight accounts on two devices, four orders
each at one farm shop) and low-density rings (six accounts linked by payout destination, two
ring purchases each among their ten honest orders).

T3-RECALL / T3-FALSE: share of planted / honest accounts flagged (per kind on the raw line).
P8: fraud.scan.rings_find over the population, at BENCH_P8_ACCOUNTS (default 20k, 200k:
100k and 1M orders), each size in a fresh database and process. Run: `python -m bench.fraud`.
"""

import os
import subprocess
import sys
import time

from bench.common import ROOT, database_recreate, db_config, django_setup, figure

DB_NAME = os.environ.get("BENCH_FRAUD_DB", "circle_bench_fraud")
SIZES = [int(x) for x in os.environ.get("BENCH_P8_ACCOUNTS", "20000,200000").split(",")]
RINGS = {"commission": 5, "brushing": 8, "low_density": 6}

GENERATE_SQL = """
SET session_replication_role = replica;  -- bench data only: foreign-key triggers off while loading
INSERT INTO accounts_user (email, password, display_name, is_active, is_staff, is_superuser, date_joined,
                           stripe_account_id)
SELECT 'a' || g || '@bench.local', '!', '', true, false, false, now() - interval '90 days', ''
  FROM generate_series(1, %(n)s + %(planted)s) g;
CREATE TEMP TABLE acc AS
SELECT row_number() OVER (ORDER BY id) AS g, id FROM accounts_user WHERE email LIKE 'a%%@bench.local';
CREATE UNIQUE INDEX ON acc (g);
-- Planted accounts come after the honest ones: kind by block, ring number inside it.
CREATE TEMP TABLE planted AS
SELECT a.g, a.id, k.kind, (a.g - %(n)s - 1 - k.start) / k.size AS ring, (a.g - %(n)s - 1 - k.start) %% k.size AS pos
  FROM acc a
  JOIN (VALUES ('commission', 0, 5), ('brushing', %(r)s * 5, 8), ('low_density', %(r)s * 13, 6))
       AS k(kind, start, size)
    ON a.g - %(n)s - 1 >= k.start AND a.g - %(n)s - 1 < k.start + %(r)s * k.size;
INSERT INTO shops_shop (owner_id, name, slug, logo, description, contact, return_policy, shipping_regions,
                        shipping_fee_minor, stripe_account_id, status, suspended_reason, is_verified, created_at)
SELECT a.id, 'Shop ' || a.id, 'b-' || a.id, '', '', '', '', '', 0, '', 'active', '', false, now()
  FROM acc a LEFT JOIN planted p ON p.g = a.g
 WHERE (a.g <= %(n)s AND a.g %% 20 = 0) OR p.kind = 'commission'
    OR (p.kind = 'brushing' AND p.pos = 0);
CREATE TEMP TABLE shop_n AS SELECT row_number() OVER (ORDER BY s.id) AS k, s.id, s.owner_id
  FROM shops_shop s JOIN acc a ON a.id = s.owner_id WHERE a.g <= %(n)s;
CREATE UNIQUE INDEX ON shop_n (k);
-- Honest orders (planted accounts buy honestly too: camouflage), then the ring orders.
CREATE TEMP TABLE bo AS
SELECT a.id AS buyer, sh.id AS shop, pr.id AS promoter
  FROM acc a CROSS JOIN generate_series(1, 5) j
  JOIN shop_n sh ON sh.k = 1 + (a.g * 7919 + j * 104729) %% (SELECT count(*) FROM shop_n)
  LEFT JOIN acc pr ON (a.g + j) %% 3 = 0 AND pr.g = 1 + (a.g * 31 + j * 7) %% %(n)s AND pr.id <> a.id
UNION ALL
SELECT b.id, s.id, pr.id
  FROM planted b JOIN planted o ON o.kind = 'commission' AND o.ring = b.ring AND o.pos = (b.pos + 1) %% 5
  JOIN shops_shop s ON s.owner_id = o.id
  JOIN planted pr ON pr.kind = 'commission' AND pr.ring = b.ring AND pr.pos = (b.pos + 2) %% 5
 CROSS JOIN generate_series(1, 2)
 WHERE b.kind = 'commission'
UNION ALL
SELECT b.id, s.id, NULL
  FROM planted b JOIN planted o ON o.kind = 'brushing' AND o.ring = b.ring AND o.pos = 0
  JOIN shops_shop s ON s.owner_id = o.id
 CROSS JOIN generate_series(1, 4)
 WHERE b.kind = 'brushing' AND b.pos > 0
UNION ALL
SELECT b.id, sh.id, pr.id
  FROM planted b JOIN planted pr ON pr.kind = 'low_density' AND pr.ring = b.ring AND pr.pos = (b.pos + 1) %% 6
  JOIN shop_n sh ON sh.k = 1 + (b.ring * 13) %% (SELECT count(*) FROM shop_n)
 CROSS JOIN generate_series(1, 2)
 WHERE b.kind = 'low_density';
INSERT INTO orders_order (group_id, shop_id, buyer_id, status, currency, items_minor, shipping_minor, total_minor,
                          platform_fee_bps, refunded_minor, is_held, held_reason, created_at, paid_at, ship_by,
                          carrier, tracking_number)
SELECT %(group)s, shop, buyer, 'paid', 'CNY', 2000, 0, 2000, 500, 0, false, '', now(), now(), now(), '', ''
  FROM bo ORDER BY buyer;
INSERT INTO orders_orderline (order_id, product_id, variant_id, title, variant_name, unit_price_minor, quantity,
                              total_minor, promoter_id, commission_bps, commission_base_minor)
SELECT o.id, %(product)s, %(variant)s, 'Item', 'Standard', 2000, 1, 2000, b.promoter,
       CASE WHEN b.promoter IS NULL THEN 0 ELSE 1000 END, CASE WHEN b.promoter IS NULL THEN 0 ELSE 2000 END
  FROM (SELECT row_number() OVER (ORDER BY buyer) AS r, * FROM bo) b
  JOIN (SELECT row_number() OVER (ORDER BY id) AS r, id FROM orders_order WHERE group_id = %(group)s) o
    ON o.r = b.r;
-- Identifiers: each account its own card, address and device, then the sharing.
INSERT INTO fraud_signal (user_id, kind, value, first_seen_at, last_seen_at)
SELECT a.id, x.kind, x.value, now(), now()
  FROM acc a LEFT JOIN planted p ON p.g = a.g
 CROSS JOIN LATERAL (VALUES
    ('card', CASE WHEN a.g <= %(n)s AND a.g %% 100 BETWEEN 20 AND 29 THEN 'couple' || a.g / 2 ELSE 'card' || a.g END),
    ('address', CASE WHEN a.g <= %(n)s AND a.g %% 100 < 20 THEN 'family' || a.g / 4 ELSE 'addr' || a.g END),
    ('visitor', CASE WHEN p.kind = 'commission' THEN 'ringphone' || p.ring
                     WHEN p.kind = 'brushing' THEN 'farm' || p.ring || '-' || p.pos %% 2
                     WHEN a.g %% 100 BETWEEN 30 AND 39 THEN 'cafe' || a.g / 2000
                     WHEN a.g %% 100 BETWEEN 40 AND 44 THEN 'resold' || a.g / 2
                     ELSE 'v' || a.g END),
    ('payout', CASE WHEN p.kind = 'low_density' THEN 'payout' || p.ring ELSE 'acct' || a.g END)
 ) AS x(kind, value);
SET session_replication_role = origin;
"""


def _people() -> dict:
    from accounts.models import User
    from orders.models import OrderGroup
    from shops import services

    buyer = User.objects.create_user(email="buyer@bench.local", password=None)
    shop = services.shop_open(owner=User.objects.create_user(email="catalog@bench.local"), name="Catalog")
    product = services.product_create(shop=shop, title="Item", price_minor=2000, commission_bps=1000, stock=1)
    group = OrderGroup.objects.create(
        buyer=buyer, idempotency_key="bench", status="paid", currency="CNY", total_minor=1, ship_name="Bench",
        ship_phone="1", ship_address="1 Bench Road", ship_city="Hangzhou", pay_by="2026-01-01T00:00Z",
        paid_at="2026-01-01T00:00Z",
    )  # fmt: skip
    return {"product": product.pk, "variant": product.variants.get().pk, "group": group.pk}


def p8_one(n: int) -> None:
    from django.db import connection, transaction

    from fraud.scan import rings_find

    rings = max(10, n // 2000)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        planted = rings * sum(RINGS.values())
        cur.execute(GENERATE_SQL, {**_people(), "n": n, "planted": planted, "r": rings})
        cur.execute("SELECT p.id, p.kind FROM planted p")
        kinds = dict(cur.fetchall())
        cur.execute("SELECT count(*) FROM orders_order")
        orders = cur.fetchone()[0]
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    generated = time.perf_counter() - started
    start = time.perf_counter()
    found = rings_find()
    seconds = time.perf_counter() - start
    flagged = {a for ring in found for a in ring.members}
    per_kind = {k: (sum(1 for a, kk in kinds.items() if kk == k and a in flagged), rings * size)
                for k, size in RINGS.items()}  # fmt: skip
    false = len(flagged - set(kinds))
    detail = ",".join(f"{k}={hit}/{total}" for k, (hit, total) in per_kind.items())
    print(f"P8ONE {n} {orders} {seconds} {len(flagged & set(kinds))} {len(kinds)} {false} {generated} {detail}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "p8":
        p8_one(int(sys.argv[2]))
        return
    results = {}
    for n in SIZES:
        url = database_recreate(db_config(), DB_NAME)
        out = subprocess.run(
            [sys.executable, "-m", "bench.fraud", "p8", str(n)],
            cwd=ROOT, env=dict(os.environ, DATABASE_URL=url), check=True, stdout=subprocess.PIPE, text=True,
        ).stdout  # fmt: skip
        fields = next(x for x in out.splitlines() if x.startswith("P8ONE")).split()[1:]
        accounts, orders, seconds, hit, planted, false, generated = (float(x) for x in fields[:7])
        results[n] = (orders, seconds, hit / planted, false / accounts)
        print(
            f"P8 raw: {int(accounts)} honest accounts, {int(orders)} orders (generated in {generated:.1f} s): scan "
            f"{seconds:.2f} s; flagged {int(hit)}/{int(planted)} planted ({fields[7]}), {int(false)} honest",
            flush=True,
        )
    largest = max(results)
    figure("T3-RECALL", results[largest][2], "share", ">=", 0.95)
    figure("T3-FALSE", results[largest][3], "share", "<=", 0.005)
    figure("P8", results[largest][1], "s", "<=", 120)
    if len(results) > 1:
        small = min(results)
        per_order = [results[n][1] / results[n][0] for n in (small, largest)]
        figure("P8-LINEAR", per_order[1] / per_order[0], "ratio", "<=", 1.15)


if __name__ == "__main__":
    if len(sys.argv) == 3:
        django_setup(os.environ["DATABASE_URL"], int(os.environ.get("BENCH_REDIS_DB", "14")))
    main()
