"""Raw SQL against the ORM, per kept statement (issue 16: a statement stays raw only if its ORM
version is slower by more than 1.5x on the figure it serves).

Each ORM version here does what the raw statement does, written the ordinary way
(`select_for_update`, `F()`, `bulk_create`), in one transaction. The two run in turn, in
blocks, one client, on the P3 data (20 shops, 5 products each), and the figure is the ORM's
time over the raw statement's, commit included (what a P3 order waits for).

Run alone: `python -m bench.raw_vs_orm` with DATABASE_URL and REDIS_URL set; uses its own
database, `circle_bench_raw_vs_orm` (BENCH_RVO_DB), dropped and created on each run.
"""

import os
import random
import time
import uuid
from datetime import timedelta

from bench.common import database_recreate, db_config, django_setup, figure

DB_NAME = os.environ.get("BENCH_RVO_DB", "circle_bench_raw_vs_orm")
PER_BLOCK = int(os.environ.get("BENCH_RVO_N", "100"))
BLOCKS = 6


def _checkout_orm(*, buyer, variant_id: int, quantity: int, price_seen: int, address, key: str):
    """The checkout statement's work with the ORM: lock and check the variants, reserve the
    stock, lock the products, decrement their totals, insert group, orders, lines, events."""
    from django.conf import settings
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from orders.models import Order, OrderEvent, OrderGroup, OrderLine
    from orders.services.checkout import PAY_WITHIN
    from shops.models import Product, Shop, Variant

    now = timezone.now()
    with transaction.atomic():
        variants = list(
            Variant.objects.select_for_update(of=("self",))
            .select_related("product__shop")
            .filter(pk__in=[variant_id])
            .order_by("pk")
        )
        ok = [
            v
            for v in variants
            if v.is_active
            and v.product.status == Product.Status.ACTIVE
            and v.product.shop.status == Shop.Status.ACTIVE
            and v.price_minor == price_seen
            and v.stock >= quantity
        ]
        if len(ok) != 1:
            raise RuntimeError("refused")
        for v in ok:
            Variant.objects.filter(pk=v.pk).update(stock=F("stock") - quantity)
        products = list(Product.objects.select_for_update().filter(pk__in=[v.product_id for v in ok]).order_by("pk"))
        for p in products:
            Product.objects.filter(pk=p.pk).update(stock_total=F("stock_total") - quantity)
        v = ok[0]
        shop = v.product.shop
        items = v.price_minor * quantity
        group = OrderGroup.objects.create(
            buyer=buyer,
            idempotency_key=key,
            currency=settings.MARKETPLACE_CURRENCY,
            total_minor=items + shop.shipping_fee_minor,
            ship_name=address.name,
            ship_phone=address.phone,
            ship_address=address.address,
            ship_city=address.city,
            ship_country=address.country,
            payment_intent_id="creating",
            payment_intent_started_at=now,
            pay_by=now + PAY_WITHIN,
        )
        (order,) = Order.objects.bulk_create(
            [
                Order(
                    group=group,
                    shop=shop,
                    buyer=buyer,
                    currency=group.currency,
                    items_minor=items,
                    shipping_minor=shop.shipping_fee_minor,
                    total_minor=group.total_minor,
                    platform_fee_bps=settings.MARKETPLACE_PLATFORM_FEE_BPS,
                )
            ]
        )
        OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    product_id=v.product_id,
                    variant=v,
                    title=v.product.title,
                    variant_name=v.name,
                    unit_price_minor=v.price_minor,
                    quantity=quantity,
                    total_minor=items,
                    commission_bps=0,
                    commission_base_minor=0,
                )
            ]
        )
        OrderEvent.objects.bulk_create([OrderEvent(order=order, kind=OrderEvent.Kind.PLACED, actor=buyer)])
    return group


def _group_pay_orm(*, group_id: int, amount_minor: int, payment_intent_id: str):
    """The payment statement's work with the ORM: claim the group, lock and mark its orders
    paid, their timeline events, and whether each carries a commission."""
    from django.conf import settings
    from django.db import transaction
    from django.db.models import Exists, OuterRef
    from django.utils import timezone

    from orders.models import Order, OrderEvent, OrderGroup, OrderLine

    now = timezone.now()
    with transaction.atomic():
        claimed = OrderGroup.objects.filter(
            pk=group_id,
            status=OrderGroup.Status.PENDING_PAYMENT,
            total_minor=amount_minor,
            payment_intent_id__in=["", "creating", payment_intent_id],
        ).update(status=OrderGroup.Status.PAID, paid_at=now, payment_intent_id=payment_intent_id)
        if not claimed:
            raise RuntimeError("not claimed")
        orders = list(
            Order.objects.select_for_update(of=("self",))
            .filter(group_id=group_id)
            .annotate(
                has_commission=Exists(
                    OrderLine.objects.filter(order=OuterRef("pk"), promoter__isnull=False, commission_bps__gt=0)
                )
            )
            .order_by("pk")
        )
        ship_by = now + timedelta(days=settings.MARKETPLACE_SHIP_BY_DAYS)
        Order.objects.filter(pk__in=[o.pk for o in orders]).update(
            status=Order.Status.PAID, paid_at=now, ship_by=ship_by
        )
        OrderEvent.objects.bulk_create([OrderEvent(order=o, kind=OrderEvent.Kind.PAID) for o in orders])
    return orders


def _ledger_post_orm(postings) -> None:
    """ledger_post_many with the ORM: the missing accounts, their ids, the transactions, their
    entries. Optimistic (a repeated idempotency key fails instead of posting nothing), so its
    time is a lower bound for a faithful ORM version."""
    from django.conf import settings
    from django.db import transaction

    from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction

    with transaction.atomic():
        refs = {ref.code: ref for posting in postings for ref, _ in posting.entries}
        LedgerAccount.objects.bulk_create(
            [
                LedgerAccount(
                    code=code, kind=ref.kind, shop_id=ref.shop_id, user_id=ref.user_id, order_id=ref.order_id,
                    currency=settings.MARKETPLACE_CURRENCY,
                )
                for code, ref in refs.items()
            ],
            ignore_conflicts=True,
        )  # fmt: skip
        ids = dict(LedgerAccount.objects.filter(code__in=list(refs)).values_list("code", "pk"))
        posted = LedgerTransaction.objects.bulk_create(
            [
                LedgerTransaction(idempotency_key=p.idempotency_key, kind=p.kind, order_id=p.order_id, memo=p.memo)
                for p in postings
            ]
        )
        LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(transaction=txn, account_id=ids[ref.code], amount_minor=amount)
                for txn, posting in zip(posted, postings, strict=True)
                for ref, amount in posting.entries
            ]
        )


def _timed(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


def run() -> None:
    cfg = db_config()
    url = database_recreate(cfg, DB_NAME)
    django_setup(url, redis_db=int(os.environ.get("BENCH_REDIS_DB", "14")))
    from django.db import transaction

    from accounts.models import User
    from bench.orders import _seed
    from orders import services
    from orders.models import Order, OrderGroup
    from shops.models import Variant

    data = _seed(shops=20, products_per_shop=5, buyers=50)
    rng = random.Random(7)
    prices = dict(Variant.objects.values_list("pk", "price_minor"))
    buyers = list(User.objects.filter(pk__in=data["buyers"]))
    address = services.Address(name="Bench", phone="13800000000", address="1 Bench Road", city="Hangzhou")

    def raw_checkout():
        v = rng.choice(data["variants"])
        services.checkout_place(
            buyer=rng.choice(buyers),
            lines=[services.CheckoutLine(v, 1, prices[v])],
            address=address,
            idempotency_key=uuid.uuid4().hex,
        )

    def orm_checkout():
        v = rng.choice(data["variants"])
        _checkout_orm(
            buyer=rng.choice(buyers), variant_id=v, quantity=1, price_seen=prices[v], address=address,
            key=uuid.uuid4().hex,
        )  # fmt: skip

    unpaid: list = []

    def next_unpaid():
        if not unpaid:
            unpaid.extend(
                OrderGroup.objects.filter(status=OrderGroup.Status.PENDING_PAYMENT).values_list("pk", "total_minor")[
                    :1000
                ]
            )
        return unpaid.pop()

    def raw_pay():
        group_id, total = next_unpaid()
        with transaction.atomic():
            services.order_group_pay(group_id=group_id, amount_minor=total, payment_intent_id=f"pi_{group_id}")

    def orm_pay():
        group_id, total = next_unpaid()
        _group_pay_orm(group_id=group_id, amount_minor=total, payment_intent_id=f"pi_{group_id}")

    paid_orders: list = []

    def capture_posting(tag: str):
        from payments import ledger
        from payments.models import LedgerTransaction

        if not paid_orders:
            paid_orders.extend(Order.objects.filter(status=Order.Status.PAID).values_list("pk", "total_minor"))
        order_id, total = paid_orders.pop()
        return ledger.Posting(
            idempotency_key=f"{tag}:order:{order_id}",
            kind=LedgerTransaction.Kind.PAYMENT_CAPTURED,
            order_id=order_id,
            entries=[
                (ledger.AccountRef(ledger.Kind.CLEARING), -total),
                (ledger.AccountRef(ledger.Kind.ESCROW, order_id=order_id), total),
            ],
        )

    def raw_post():
        from payments import ledger

        posting = capture_posting("raw")
        with transaction.atomic():
            ledger.ledger_post_many([posting])

    def orm_post():
        _ledger_post_orm([capture_posting("orm")])

    # The capture posting uses the orders the payment runs paid: one new escrow account each.
    for name, raw, orm in (
        ("CHECKOUT", raw_checkout, orm_checkout),
        ("GROUP-PAY", raw_pay, orm_pay),
        ("LEDGER-POST", raw_post, orm_post),
    ):
        _timed(raw, 10), _timed(orm, 10)  # warm-up: prepared statements, caches
        raw_t = orm_t = 0.0
        for _ in range(BLOCKS):
            raw_t += _timed(raw, PER_BLOCK)
            orm_t += _timed(orm, PER_BLOCK)
        n = BLOCKS * PER_BLOCK
        print(
            f"RAW-{name}: raw {raw_t / n * 1000:.2f} ms, ORM {orm_t / n * 1000:.2f} ms per call ({n} each)", flush=True
        )
        figure(f"RAW-{name}", orm_t / raw_t, "ratio", ">=", 1.5)


if __name__ == "__main__":
    run()
