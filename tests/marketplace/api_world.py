"""Helpers for API-wide tests: the published schema, and a small marketplace (a merchant's shop
with products, a buyer with a cart, paid and shipped orders, an after-sales case escalated to a
dispute, a share link and staff)."""

import functools
from dataclasses import dataclass, field

import schemathesis
from drf_spectacular.generators import SchemaGenerator
from schemathesis import openapi

from disputes import services as dispute_services
from orders import services as order_services
from referrals import services as referral_services
from tests.factories import CategoryFactory, UserFactory, make_product, make_shop
from tests.helpers import paid_sale, shipped_sale


@functools.cache
def _raw_schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def api_schema(config: schemathesis.Config | None = None):
    """The schema /api/schema/ serves, loaded by Schemathesis (generated once per run)."""
    return openapi.from_dict(_raw_schema(), config=config)


@dataclass
class World:
    buyer: object
    merchant: object
    staff: object
    ids: dict[str, list] = field(default_factory=dict)

    def path_ids(self) -> dict[str, list]:
        return self.ids


def api_world(client) -> World:
    buyer, staff = UserFactory(), UserFactory(is_staff=True)
    shop = make_shop()
    merchant = shop.owner
    category = CategoryFactory()
    products = [make_product(shop=shop, stock=500, category=category) for _ in range(2)]
    variant = products[0].variants.get()
    order_services.cart_add(cart=order_services.cart_for(user=buyer), variant_id=variant.pk, quantity=2)
    paid, _ = paid_sale(client, buyer=buyer, shop=shop)
    shipped, _ = shipped_sale(client, buyer=buyer, shop=shop)
    disputed, _ = shipped_sale(client, buyer=buyer, shop=shop)
    case = dispute_services.after_sales_open(
        buyer=buyer, line_id=shipped.lines.get().pk, kind="refund_only", reason="not_received",
        description="The parcel never arrived at my door.", amount_minor=shipped.total_minor,
    )  # fmt: skip
    escalated = dispute_services.after_sales_open(
        buyer=buyer, line_id=disputed.lines.get().pk, kind="refund_only", reason="not_received",
        description="The parcel never arrived at my door.", amount_minor=disputed.total_minor,
    )  # fmt: skip
    dispute_services.after_sales_reject(
        request_id=escalated.pk, merchant=merchant, note="Tracking shows it was delivered."
    )
    dispute = dispute_services.after_sales_escalate(
        request_id=escalated.pk, user=buyer, note="I still do not have the parcel."
    )
    share = referral_services.share_create(promoter=buyer, product=products[1])
    photo_ids = []
    return World(
        buyer=buyer,
        merchant=merchant,
        staff=staff,
        ids={
            "product_id": [p.pk for p in products],
            "variant_id": [variant.pk, products[1].variants.get().pk],
            "order_id": [paid.pk, shipped.pk, disputed.pk],
            "request_id": [case.pk, escalated.pk],
            "dispute_id": [dispute.pk],
            "slug": [shop.slug],
            "code": [share.code],
            "photo_id": photo_ids,
        },
    )
