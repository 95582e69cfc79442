"""Sales through promoters' links, with the buyer's own card and address."""

import uuid

from fraud import services as fraud_services
from orders import services
from referrals import services as referral_services
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import pay


def address(n: int) -> services.Address:
    return services.Address(name=f"Buyer {n}", phone=f"+86 139 {n:04d} 0000", address=f"{n} Lake Road", city="Suzhou")


def referred_sale(client, *, buyer, promoter, product=None, card="pm_card_visa", where=None):
    """A paid order of one product bought by `buyer` through `promoter`'s share; the line."""
    product = product or make_product(price_minor=10_000, commission_bps=1000, stock=50)
    share = referral_services.share_create(promoter=promoter, product=product)
    variant = product.variants.get()
    group = services.checkout_place(
        buyer=buyer,
        lines=[services.CheckoutLine(variant.pk, 1, variant.price_minor)],
        address=where or address(buyer.pk),
        idempotency_key=uuid.uuid4().hex,
        shares_by_product={product.pk: share},
    )
    group = pay(client, group, card)
    return group.orders.get().lines.get()


def own_sale(client, *, buyer, product, card="pm_card_visa", where=None):
    """A paid order without a promoter; the line."""
    variant = product.variants.get()
    group = services.checkout_place(
        buyer=buyer,
        lines=[services.CheckoutLine(variant.pk, 1, variant.price_minor)],
        address=where or address(buyer.pk),
        idempotency_key=uuid.uuid4().hex,
    )
    return pay(client, group, card).orders.get().lines.get()


def plant_commission_ring(client, *, device: str = "ring-phone"):
    """Five accounts on one device: three shop owners buying from each other's shops
    through the links of two promoters who never buy. Returns (owners, promoters, lines)."""
    owners, promoters = UserFactory.create_batch(3), UserFactory.create_batch(2)
    for user in [*owners, *promoters]:
        fraud_services.signals_record(user_id=user.pk, values={"visitor": device})
    products = [
        make_product(shop=make_shop(owner=o), price_minor=10_000, commission_bps=1000, stock=20) for o in owners
    ]
    lines = []
    for i, buyer in enumerate(owners):
        for step, promoter in zip((1, 2), promoters, strict=True):
            lines.append(referred_sale(client, buyer=buyer, promoter=promoter, product=products[(i + step) % 3]))
    return owners, promoters, lines


def plant_family(client, *, n: int = 5):
    """n people at one home, each buying at one popular shop; returns them."""
    home = address(7000)
    shop_product = make_product(price_minor=5_000, commission_bps=100, stock=50)
    family = UserFactory.create_batch(n)
    for person in family:
        own_sale(client, buyer=person, product=shop_product, where=home)
    for _ in range(5):
        own_sale(client, buyer=UserFactory(), product=shop_product)
    return family
