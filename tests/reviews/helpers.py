"""Shared steps for review tests: received order lines (through the real checkout, payment
and receipt, or planted directly for large or dated histories), photos, a frozen clock."""

import io
import threading
import uuid
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from PIL import Image

from orders import services as order_services
from orders.models import Order, OrderGroup, OrderLine
from referrals import services as referral_services
from reviews.models import Review
from tests.factories import UserFactory, make_product
from tests.helpers import ADDRESS, pay, place

REVIEW = {"stars": 5, "score_described": 5, "score_service": 4, "score_shipping": 4, "text": "Lovely tea."}


def received_line(client, *, buyer=None, product=None, promoter=None, confirm: bool = True) -> OrderLine:
    """A line bought, paid through the local Stripe, shipped and (confirm) received."""
    product = product or make_product(price_minor=5000, stock=50)
    buyer = buyer or UserFactory()
    shares = None
    if promoter is not None:
        shares = {product.pk: referral_services.share_create(promoter=promoter, product=product)}
    group = place(buyer, (product.variants.get(), 1), shares_by_product=shares)
    order = pay(client, group).orders.get()
    order_services.order_ship(order_id=order.pk, merchant=order.shop.owner, carrier="SF", tracking_number="SF12345")
    if confirm:
        order_services.order_confirm_receipt(order_id=order.pk, buyer=buyer)
    return OrderLine.objects.select_related("order").get(order=order)


def planted_line(
    *, shop, product=None, buyer=None, received_at=None, card: str = "", address: str = ADDRESS.address,
    status: str = Order.Status.RECEIVED, paid_at=None, ship_by=None, shipped_at=None, tracking: str = "SF1",
) -> OrderLine:  # fmt: skip
    """A line written straight to the tables (no payment), for dated or large histories."""
    now = timezone.now()
    product = product or make_product(shop=shop)
    buyer = buyer or UserFactory()
    paid_at = paid_at or (received_at or now) - timedelta(days=5)
    group = OrderGroup.objects.create(
        buyer=buyer, idempotency_key=uuid.uuid4().hex, status="paid", currency="CNY", total_minor=1000,
        ship_name="Li", ship_phone="1", ship_address=address, ship_city=ADDRESS.city, card_fingerprint=card,
        pay_by=paid_at, paid_at=paid_at,
    )  # fmt: skip
    order = Order.objects.create(
        group=group, shop=shop, buyer=buyer, status=status, currency="CNY", items_minor=1000, shipping_minor=0,
        total_minor=1000, platform_fee_bps=500, paid_at=paid_at, ship_by=ship_by or paid_at + timedelta(days=3),
        shipped_at=shipped_at if shipped_at is not None else paid_at + timedelta(days=1),
        tracking_number=tracking, carrier="SF",
        received_at=received_at if received_at is not None else (now if status in ("received", "settled") else None),
    )  # fmt: skip
    variant = product.variants.first()
    return OrderLine.objects.create(
        order=order, product=product, variant=variant, title=product.title, variant_name=variant.name,
        unit_price_minor=1000, quantity=1, total_minor=1000,
    )  # fmt: skip


def photo(name="photo.jpg", color=(20, 140, 60)):
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "JPEG")
    out.seek(0)
    out.name = name
    return out


def upload(name="photo.jpg"):
    return SimpleUploadedFile(name, photo(name).getvalue(), content_type="image/jpeg")


def not_an_image(name="photo.jpg"):
    return SimpleUploadedFile(name, b"%PDF-1.4 this is not a picture", content_type="image/jpeg")


def plant_reviews(product, specs: list[dict], *, order=None) -> list:
    """Reviews written straight to the table, each on its own line of one order (a planted
    one unless given): specs give stars and optionally connection, fold_reason, created_at."""
    order = order or planted_line(shop=product.shop, product=product).order
    variant, now = product.variants.first(), timezone.now()
    lines = OrderLine.objects.bulk_create(
        [
            OrderLine(order=order, product=product, variant=variant, title="x", variant_name="x",
                      unit_price_minor=1000, quantity=1, total_minor=1000)
            for _ in specs
        ]
    )  # fmt: skip
    return Review.objects.bulk_create(
        [
            Review(
                line=line,
                order=order,
                product=product,
                shop=product.shop,
                buyer_id=order.buyer_id,
                stars=spec["stars"],
                score_described=spec.get("described", spec["stars"]),
                score_service=4,
                score_shipping=4,
                connection=spec.get("connection", ""),
                fold_reason=spec.get("fold_reason", ""),
                is_folded=bool(spec.get("fold_reason")),
                received_at=now,
                created_at=spec.get("created_at", now),
            )  # fmt: skip
            for line, spec in zip(lines, specs, strict=True)
        ]
    )


def race(n: int, work) -> list:
    """Run work(i) in n threads released together, each on its own database connection;
    returns what each returned or raised."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
