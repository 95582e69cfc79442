"""Orders benchmark: P3 (checkout + payment handling vs pgbench -N); P4 is in bench/settlement.py.

Run by `make bench` (bench/__main__.py) or alone: `python -m bench.orders` with DATABASE_URL
and REDIS_URL set (`make bench` sets them, embedded if unset). Uses its own database,
`circle_bench_orders`, dropped and created on each run, and Redis database 14.
"""

import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote

from bench.common import database_recreate, db_config, django_setup, figure

DB_NAME = os.environ.get("BENCH_ORDERS_DB", "circle_bench_orders")
# Two load processes on two cores, like pgbench's two clients below: the same concurrency.
CLIENTS = 2
ORDERS_PER_CLIENT = int(os.environ.get("BENCH_P3_ORDERS", "1500"))
ROUNDS = 5


def _pgbench_binary() -> str:
    try:
        import pgserver

        candidate = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("pgbench")
    if not found:
        raise SystemExit("pgbench not found (it ships with the pgserver package)")
    return found


def _pgbench(cfg: dict, *args: str) -> str:
    env = dict(os.environ, PGPASSWORD=cfg["PASSWORD"] or "")
    common = ["-h", unquote(cfg["HOST"] or "127.0.0.1"), "-U", cfg["USER"], DB_NAME]
    if cfg["PORT"]:
        common[0:0] = ["-p", str(cfg["PORT"])]
    return subprocess.run(
        [_pgbench_binary(), *args, *common], env=env, check=True, capture_output=True, text=True
    ).stdout


def pgbench_tps(cfg: dict, seconds: int = 6) -> float:
    """`pgbench -N` (no hot branch/teller rows) TPS with CLIENTS clients on the bench database
    (initialized by pgbench_init)."""
    out = _pgbench(cfg, "-N", "-c", str(CLIENTS), "-j", str(CLIENTS), "-T", str(seconds))
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


def pgbench_init(cfg: dict) -> None:
    _pgbench(cfg, "-i", "-q", "-s", "10")


def _seed(shops: int, products_per_shop: int, buyers: int) -> dict:
    from accounts.models import User
    from shops import services

    variant_ids = []
    for s in range(shops):
        owner = User.objects.create_user(email=f"m{s}@bench.local", password=None)
        shop = services.shop_open(owner=owner, name=f"Bench shop {s}")
        for p in range(products_per_shop):
            product = services.product_create(
                shop=shop, title=f"Item {s}-{p}", price_minor=1000 + p * 37, commission_bps=1000, stock=10_000_000
            )
            services.product_set_status(product=product, status="active")
            variant_ids.append(product.variants.get().pk)
    buyer_ids = [User.objects.create_user(email=f"b{i}@bench.local", password=None).pk for i in range(buyers)]
    return {"variants": variant_ids, "buyers": buyer_ids}


def _checkout_and_pay_loop(args) -> int:
    """One load client: check out one item and handle its payment success, n times."""
    variant_ids, buyer_ids, n, seed = args
    import random
    import uuid

    from django.db import connection

    from accounts.models import User
    from orders import services
    from payments import services as payment_services
    from payments import stripe_client
    from payments.local_stripe import local_event_signed, local_events_take
    from shops.models import Variant

    connection.close()
    rng = random.Random(seed)
    prices = dict(Variant.objects.filter(pk__in=variant_ids).values_list("pk", "price_minor"))
    buyers = list(User.objects.filter(pk__in=buyer_ids))
    address = services.Address(name="Bench", phone="13800000000", address="1 Bench Road", city="Hangzhou")
    for _ in range(n):
        variant_id = rng.choice(variant_ids)
        group = services.checkout_place(
            buyer=rng.choice(buyers),
            lines=[services.CheckoutLine(variant_id, 1, prices[variant_id])],
            address=address,
            idempotency_key=uuid.uuid4().hex,
        )
        group = payment_services.payment_intent_ensure(group_id=group.pk, placed=group)
        stripe_client.payment_intent_confirm_test(
            payment_intent_id=group.payment_intent_id, payment_method="pm_card_visa"
        )
        # Each event is delivered once, to whichever client takes it (as Stripe picks any web
        # process): skipping the other client's events would leave their orders unpaid. The
        # webhook view's one call applies the event as it stores it; the worker only retries
        # an event that failed, and run_p3 checks that none did.
        for event in local_events_take():
            body, signature = local_event_signed(event)
            payment_services.webhook_receive(payload=body, signature=signature)
    connection.close()
    return n


def _p3_rate(variant_ids, buyer_ids) -> float:
    from django.db import connections

    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    jobs = [(variant_ids, buyer_ids, ORDERS_PER_CLIENT, i) for i in range(CLIENTS)]
    with ctx.Pool(CLIENTS) as pool:
        pool.map(_checkout_and_pay_loop, [(variant_ids, buyer_ids, 5, 100 + i) for i in range(CLIENTS)])  # warm-up
        start = time.perf_counter()
        done = sum(pool.map(_checkout_and_pay_loop, jobs))
        elapsed = time.perf_counter() - start
    return done / elapsed


def _settle() -> None:
    """Let the writes of the run before reach the disk before the next is measured: the
    kernel's writeback of one run's data would otherwise be paid by the next (the baseline
    after the orders, or the orders after the baseline)."""
    os.sync()
    time.sleep(1)


def run_p3() -> None:
    cfg = db_config()
    url = database_recreate(cfg, DB_NAME)
    django_setup(url, redis_db=14)
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    spread = _seed(shops=20, products_per_shop=5, buyers=50)
    from shops.models import Shop, Variant

    one_shop = Shop.objects.order_by("pk").first()
    hot = list(Variant.objects.filter(product__shop=one_shop).values_list("pk", flat=True))
    pgbench_init(cfg)
    tps_runs, spread_rates, hot_rates = [], [], []
    # Rounds of baseline, spread and hot in turn, so that the machine's load (these are shared
    # machines) weighs on the baseline as on the orders; each ratio is taken within its round
    # and the median round is reported.
    for _ in range(ROUNDS):
        _settle()
        tps_runs.append(pgbench_tps(cfg))
        _settle()
        spread_rates.append(_p3_rate(spread["variants"], spread["buyers"]))
        _settle()
        hot_rates.append(_p3_rate(hot, spread["buyers"]))
    p3 = statistics.median(rate / tps for rate, tps in zip(spread_rates, tps_runs, strict=True))
    p3h = statistics.median(hot / rate for hot, rate in zip(hot_rates, spread_rates, strict=True))
    from orders.models import OrderGroup

    unpaid = OrderGroup.objects.exclude(status=OrderGroup.Status.PAID).count()
    if unpaid:
        raise SystemExit(f"P3: {unpaid} order groups were not paid by their webhook; the figure would be false.")
    for i, (tps, rate, hot_rate) in enumerate(zip(tps_runs, spread_rates, hot_rates, strict=True)):
        print(f"P3 round {i + 1}: pgbench -N {tps:.0f} tps; checkout+payment {rate:.1f} orders/s (20 shops), "
              f"{hot_rate:.1f} orders/s (one shop); {CLIENTS} clients", flush=True)  # fmt: skip
    figure("P3", p3, "ratio", ">=", 0.10)
    figure("P3H", p3h, "ratio", ">=", 0.90)
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


def main() -> None:
    run_p3()


if __name__ == "__main__":
    main()
