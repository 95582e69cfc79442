"""Demo cases for `make run`: an open request in the demo merchant's after-sales inbox and a
dispute waiting in the staff console, both from the demo buyer and made through the services."""

import uuid

from accounts.models import User
from disputes import services
from disputes.models import AfterSalesRequest
from orders import services as order_services
from orders.demo import ADDRESS
from orders.models import Order
from payments import services as payment_services
from shops.demo import LOGINS, demo_photo
from shops.models import Shop, Variant


def _shipped_order(buyer: User, shop: Shop) -> Order:
    variant = Variant.objects.filter(product__shop=shop, stock__gt=0, product__status="active").order_by("pk").first()
    group = order_services.checkout_place(
        buyer=buyer,
        lines=[order_services.CheckoutLine(variant.pk, 1, variant.price_minor)],
        address=ADDRESS,
        idempotency_key=uuid.uuid4().hex,
    )
    # Test-mode money: the same service a verified Stripe webhook calls.
    payment_services.order_group_mark_paid(
        group_id=group.pk, amount_minor=group.total_minor, payment_intent_id=f"pi_demo_{group.pk}"
    )
    order = group.orders.get()
    order_services.order_ship(
        order_id=order.pk, merchant=shop.owner, carrier="SF Express", tracking_number="SF5566778899"
    )
    return order


def demo_cases_load() -> bool:
    """Returns False when the demo buyer already has requests (or the demo world is missing)."""
    buyer = User.objects.filter(email=LOGINS["buyer"]).first()
    tea = Shop.objects.filter(owner__email=LOGINS["merchant"]).first()
    if buyer is None or tea is None or AfterSalesRequest.objects.filter(buyer=buyer).exists():
        return False
    # Open, in the demo merchant's inbox: a new tea order that arrived damaged.
    order = _shipped_order(buyer, tea)
    line = order.lines.get()
    services.after_sales_open(
        buyer=buyer, line_id=line.pk, kind=AfterSalesRequest.Kind.PARTIAL_REFUND,
        reason=AfterSalesRequest.Reason.DAMAGED, amount_minor=line.total_minor // 2,
        description="The tin arrived dented and the lid no longer closes. The tea itself is fine.",
        photos=[demo_photo("Dented lid", 501, (800, 600))],
    )  # fmt: skip
    # Escalated, in the staff console: the order another shop shipped "never arrived".
    shipped = Order.objects.filter(buyer=buyer, status=Order.Status.SHIPPED).exclude(shop=tea).order_by("pk").first()
    if shipped is None:
        return True
    case = services.after_sales_open(
        buyer=buyer, line_id=shipped.lines.order_by("pk").first().pk, kind=AfterSalesRequest.Kind.REFUND_ONLY,
        reason=AfterSalesRequest.Reason.NOT_RECEIVED, amount_minor=shipped.total_minor,
        description="Tracking says delivered to a locker, but the locker was empty when I opened it.",
    )  # fmt: skip
    services.after_sales_reject(
        request_id=case.pk, merchant=shipped.shop.owner, note="The courier's photo shows it in locker 14.",
        photos=[demo_photo("Locker 14", 502, (800, 600))],
    )  # fmt: skip
    services.after_sales_escalate(
        request_id=case.pk, user=buyer, note="Locker 14 was empty; the building manager can confirm it."
    )
    return True
