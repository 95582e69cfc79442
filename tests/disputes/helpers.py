"""Shared steps for after-sales and dispute tests: a paid, shipped order with a promoter's
commission, money checks, and chargeback events signed like Stripe's."""

import io
import time
import uuid

from PIL import Image

from orders import services as order_services
from orders.models import Order
from payments import ledger
from payments.ledger import Kind
from payments.local_stripe import local_event_signed
from payments.services import order_money, reconcile
from referrals import services as referral_services
from tests.factories import UserFactory, make_product
from tests.orders.helpers import pay, place


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
    order_services.order_ship(
        order_id=order.pk, merchant=order.shop.owner, carrier="SF Express", tracking_number="SF1234567"
    )
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
