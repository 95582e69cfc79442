"""Demo orders for `make run`: the demo buyer's orders in several states, paid in test mode."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from orders import services
from orders.models import Order
from payments import services as payment_services
from referrals.services import share_create
from shops.demo import LOGINS
from shops.models import Shop, Variant

ADDRESS = services.Address(
    name="Bea Buyer", phone="+86 138 0000 0000", address="8 West Lake Road, Flat 3", city="Hangzhou"
)


def demo_orders_load() -> bool:
    """Three orders for the demo buyer: settled (bought through the demo promoter's link),
    shipped, and paid awaiting shipment; payout accounts for the demo shops and promoter
    in test mode. Returns False when the buyer already has orders."""
    buyer = User.objects.filter(email=LOGINS["buyer"]).first()
    if buyer is None or Order.objects.filter(buyer=buyer).exists():
        return False
    shops = list(Shop.objects.filter(owner__email__endswith="@demo.circle.market").order_by("pk")[:3])
    promoter = User.objects.get(email=LOGINS["promoter"])
    if settings.STRIPE_TEST_MODE:
        for shop in shops:
            payment_services.payout_account_connect(shop=shop)
        payment_services.payout_account_connect(user=promoter)
    placed = []
    for shop in shops:
        variant = (
            Variant.objects.filter(product__shop=shop, stock__gt=0, product__status="active").order_by("pk").first()
        )
        shares = {}
        if not placed:
            shares = {variant.product_id: share_create(promoter=promoter, product=variant.product)}
        group = services.checkout_place(
            buyer=buyer,
            lines=[services.CheckoutLine(variant.pk, 1, variant.price_minor)],
            address=ADDRESS,
            idempotency_key=uuid.uuid4().hex,
            shares_by_product=shares,
        )
        # Test-mode money: the same service a verified Stripe webhook calls.
        payment_services.order_group_mark_paid(
            group_id=group.pk, amount_minor=group.total_minor, payment_intent_id=f"pi_demo_{group.pk}"
        )
        placed.append(group.orders.get())
    if not placed:
        return False
    settled = placed[0]
    services.order_ship(
        order_id=settled.pk, merchant=settled.shop.owner, carrier="SF Express", tracking_number="SF100200300"
    )
    services.order_confirm_receipt(order_id=settled.pk, buyer=buyer)
    with transaction.atomic():
        Order.objects.filter(pk=settled.pk).update(after_sales_ends_at=timezone.now() - timedelta(minutes=1))
    payment_services.orders_settle(order_ids=[settled.pk])
    if len(placed) > 1:
        shipped = placed[1]
        services.order_ship(
            order_id=shipped.pk, merchant=shipped.shop.owner, carrier="ZTO", tracking_number="ZTO7788990011"
        )
    return True
