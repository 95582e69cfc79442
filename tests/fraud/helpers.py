"""Sales through promoters' links, with the buyer's own card and address."""

import uuid

from orders import services
from referrals import services as referral_services
from tests.factories import make_product
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
