"""Steps and checks shared by test modules (one module: a test imports helpers from here,
never another test module's privates). The Stripe fake is the `stripe` fixture in
tests/conftest.py."""

import io
import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from disputes import services as dispute_services
from disputes.models import AfterSalesRequest, Dispute, Evidence, Message
from marketplace.money import bps_share
from orders import services
from orders.models import Order, OrderGroup, OrderLine
from payments import ledger, stripe_client
from payments import services as payment_services
from payments.ledger import Kind
from payments.local_stripe import LocalStripeHTTPClient, local_event_signed, local_events_take
from payments.models import Refund, WebhookEvent
from payments.selectors import order_money
from payments.services import reconcile
from payments.tasks import webhook_event_handle_task
from referrals import services as referral_services
from reviews.models import Review
from tests.factories import PASSWORD, UserFactory, make_product

# --- Stripe: the local Stripe, with every call on record (the `stripe_fake` fixture) --------


@dataclass(frozen=True)
class StripeCall:
    method: str
    path: str
    sent: dict
    key: str
    status: int
    answer: dict
    replayed: bool


class StripeFake(LocalStripeHTTPClient):
    """The local Stripe at the one seam (payments.stripe_client), every call on record."""

    def __init__(self):
        super().__init__()
        self.calls: list[StripeCall] = []

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        sent = post_data.decode() if isinstance(post_data, bytes) else post_data or ""
        body, status, response_headers = super().request(method, url, headers, post_data, _usage=_usage)
        self.calls.append(
            StripeCall(
                method=method.upper(),
                path=urlsplit(url).path,
                sent=dict(parse_qsl(sent)),
                key=(headers or {}).get("Idempotency-Key", ""),
                status=status,
                answer=json.loads(body),
                replayed=response_headers.get("Idempotent-Replayed") == "true",
            )
        )
        return body, status, response_headers

    def to(self, method: str, path_end: str) -> list[tuple[str, int, dict, bool]]:
        """(idempotency key, status, answer, replayed) of each call to a path ending so."""
        return [(c.key, c.status, c.answer, c.replayed) for c in self.calls
                if c.method == method and c.path.endswith(path_end)]  # fmt: skip

    def refunds(self) -> list[tuple[dict, int, dict]]:
        """(what was asked, Stripe's status, Stripe's answer) for each refund request."""
        return [(c.sent, c.status, c.answer) for c in self.calls if (c.method, c.path) == ("POST", "/v1/refunds")]


# --- Orders: check out, pay through the local Stripe, handle the webhook ------------------

ADDRESS = services.Address(name="Li Lei", phone="+86 138 0000 0000", address="1 Garden Road, Flat 2", city="Hangzhou")


def place(buyer, *variants_and_quantities, key: str | None = None, shares_by_product=None):
    lines = [services.CheckoutLine(v.pk, q, v.price_minor) for v, q in variants_and_quantities]
    return services.checkout_place(
        buyer=buyer,
        lines=lines,
        address=ADDRESS,
        idempotency_key=key or uuid.uuid4().hex,
        shares_by_product=shares_by_product,
    )


def deliver_events(client) -> list:
    """POST each waiting local-Stripe event to the webhook, signed, then handle it as the
    worker would (task.apply on the real app)."""
    responses = []
    for event in local_events_take():
        body, signature = local_event_signed(event)
        response = client.post(
            "/payments/stripe/webhook/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
        responses.append(response)
        row = WebhookEvent.objects.get(stripe_id=event["id"])
        webhook_event_handle_task.apply(args=[row.pk])
    return responses


def pay(client, group, card: str = "pm_card_visa"):
    group = payment_services.payment_intent_ensure(group_id=group.pk, placed=group)
    try:
        stripe_client.payment_intent_confirm_test(payment_intent_id=group.payment_intent_id, payment_method=card)
    finally:
        deliver_events(client)
    group.refresh_from_db()
    return group


def ship_confirm_and_age(order: Order) -> Order:
    services.order_ship(order_id=order.pk, merchant=order.shop.owner, carrier="SF Express", tracking_number="SF1234567")
    services.order_confirm_receipt(order_id=order.pk, buyer=order.buyer)
    Order.objects.filter(pk=order.pk).update(after_sales_ends_at=timezone.now() - timedelta(seconds=1))
    order.refresh_from_db()
    return order


def settle_due(*, batch_size: int = 2000) -> int:
    """Run one settlement batch of the orders due, as the sweeper does; how many settled."""
    return payment_services.orders_settle_due_batch(batch_size=batch_size).settled


def race(n: int, work) -> list:
    """Run work(i) in n threads released together; each thread has its own connection."""
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


# --- After-sales and disputes: a paid, shipped sale with a commission; money checks --------


def paid_sale(client, *, price=10_000, rate=1000, quantity=1, buyer=None, shop=None):
    """A paid order of one product bought through a promoter's share."""
    extra = {"shop": shop} if shop else {}
    product = make_product(price_minor=price, commission_bps=rate, stock=50, **extra)
    promoter = UserFactory()
    share = referral_services.share_create(promoter=promoter, product=product)
    group = place(buyer or UserFactory(), (product.variants.get(), quantity), shares_by_product={product.pk: share})
    return pay(client, group).orders.get(), promoter


def shipped_sale(client, *, price=10_000, rate=1000, quantity=1, buyer=None, shop=None):
    """A paid and shipped order of one product bought through a promoter's share."""
    order, promoter = paid_sale(client, price=price, rate=rate, quantity=quantity, buyer=buyer, shop=shop)
    services.order_ship(order_id=order.pk, merchant=order.shop.owner, carrier="SF Express", tracking_number="SF1234567")
    order.refresh_from_db()
    return order, promoter


def photo(name="evidence.jpg", color=(200, 30, 30)):
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "JPEG")
    out.seek(0)
    out.name = name
    return out


def escrow_held(order: Order) -> int:
    """Escrow plus the order's pending or frozen commissions: what is still held for it."""
    return order_money(order)["held"]


def books_ok() -> None:
    report = reconcile()
    assert report.ok, report.problems


def promoter_held(promoter) -> tuple[int, int]:
    return (
        ledger.balance_of(kind=Kind.PROMOTER_PENDING, user=promoter),
        ledger.balance_of(kind=Kind.PROMOTER_FROZEN, user=promoter),
    )


def chargeback_event(order: Order, *, kind: str, amount: int, status: str = "needs_response", dispute_id=None):
    """A charge.dispute.* event for the order's payment, signed with the webhook secret."""
    dispute_id = dispute_id or f"dp_{uuid.uuid4().hex[:14]}"
    event = {
        "id": f"evt_{uuid.uuid4().hex[:20]}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {
            "object": {
                "id": dispute_id,
                "object": "dispute",
                "amount": amount,
                "currency": "cny",
                "payment_intent": order.group.payment_intent_id,
                "reason": "fraudulent",
                "status": status,
            }
        },
    }
    body, signature = local_event_signed(event)
    return body, signature, dispute_id


def commission_due(order, kept: int) -> int:
    """The order's one line's commission when `kept` of it is kept."""
    line = order.lines.get()
    return bps_share(line.commission_base_minor * kept // order.total_minor, line.commission_bps)


def settle_received(order):
    """Confirm receipt, let the after-sales window pass and run settlement."""
    services.order_confirm_receipt(order_id=order.pk, buyer=order.buyer)
    Order.objects.filter(pk=order.pk).update(after_sales_ends_at=timezone.now() - timedelta(seconds=1))
    settle_due()
    order.refresh_from_db()
    return order


DESCRIPTION = "The parcel never arrived at my door."


def as_user(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def open_request(order, *, kind="refund_only", reason="not_received", amount=None, photos=()) -> AfterSalesRequest:
    return dispute_services.after_sales_open(
        buyer=order.buyer, line_id=order.lines.get().pk, kind=kind, reason=reason, description=DESCRIPTION,
        amount_minor=amount or order.total_minor, photos=photos,
    )  # fmt: skip


def state(order) -> tuple:
    """The order's requests (status, refunded), its refunds and hold, and every case row count."""
    order.refresh_from_db()
    requests = AfterSalesRequest.objects.filter(order=order).order_by("pk").values_list("status", "refunded_minor")
    return (
        tuple(requests), order.refunded_minor, order.is_held, Refund.objects.count(), Dispute.objects.count(),
        Message.objects.count(), Evidence.objects.count(),
    )  # fmt: skip


def error(response) -> dict:
    return response.json()["error"]


# --- A controlled clock for deadline tests ----------------------------------------------


class Clock:
    def __init__(self, now):
        self.now = now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def clock_freeze(monkeypatch) -> Clock:
    """Freeze timezone.now at the real time now; every reader (services, sweepers, auto_now
    fields, every thread) sees the clock's time until the test moves it."""
    clock = Clock(timezone.now())
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


# --- Browser tests ------------------------------------------------------------------------

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def is_home(url: str) -> bool:
    """For wait_for_url after a form that redirects home: the glob "**/" would also match the
    form's own page, and the wait would return before the redirect."""
    return urlsplit(url).path == "/"


def log_in(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email:").fill(email)
    page.get_by_label("Password:").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(is_home)


def wait_until(condition, what: str, attempts: int = 120) -> None:
    """Bounded poll for background work; fails with `what` if it never happens."""
    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


# --- Reviews: received lines, planted histories, photos -----------------------------------

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
    services.order_ship(order_id=order.pk, merchant=order.shop.owner, carrier="SF", tracking_number="SF12345")
    if confirm:
        services.order_confirm_receipt(order_id=order.pk, buyer=buyer)
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


def upload(name="photo.jpg"):
    return SimpleUploadedFile(name, photo(name, color=(20, 140, 60)).getvalue(), content_type="image/jpeg")


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
