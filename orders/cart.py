"""The session cart: variant ids and quantities. Prices are always read fresh."""

from dataclasses import dataclass

from shops.models import Product, Shop, Variant

SESSION_KEY = "cart"
MAX_QUANTITY = 99


@dataclass
class CartLine:
    variant: Variant
    quantity: int

    @property
    def total_minor(self) -> int:
        return self.variant.price_minor * self.quantity


def cart_read(session) -> dict[str, int]:
    raw = session.get(SESSION_KEY, {})
    return {str(k): int(v) for k, v in raw.items() if str(k).isdigit() and int(v) > 0}


def cart_lines(session) -> list[CartLine]:
    items = cart_read(session)
    variants = Variant.objects.filter(pk__in=[int(k) for k in items]).select_related("product__shop")
    return [CartLine(v, items[str(v.pk)]) for v in variants]


def cart_add(session, *, variant_id: int, quantity: int) -> Variant:
    from marketplace.errors import DomainError

    if not 1 <= quantity <= MAX_QUANTITY:
        raise DomainError(f"Choose a quantity from 1 to {MAX_QUANTITY}.", field="quantity")
    variant = (
        Variant.objects.filter(
            pk=variant_id,
            is_active=True,
            product__status=Product.Status.ACTIVE,
            product__shop__status=Shop.Status.ACTIVE,
        )
        .select_related("product")
        .first()
    )
    if variant is None:
        raise DomainError("This item cannot be bought right now.")
    items = cart_read(session)
    wanted = items.get(str(variant.pk), 0) + quantity
    if wanted > variant.stock:
        raise DomainError(
            f"Only {variant.stock} of {variant.product.title} ({variant.name}) in stock.", field="quantity"
        )
    items[str(variant.pk)] = wanted
    session[SESSION_KEY] = items
    return variant


def cart_remove(session, *, variant_id: int) -> None:
    items = cart_read(session)
    items.pop(str(variant_id), None)
    session[SESSION_KEY] = items
