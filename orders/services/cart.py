"""The cart: a signed-in user's or an anonymous session's."""

from django.db import transaction

from marketplace.errors import DomainError
from orders.models import Cart, CartItem
from shops.models import Product, Shop, Variant

MAX_QUANTITY = 99


def cart_for(*, user=None, token: str | None = None, create: bool = True) -> Cart | None:
    """A signed-in user's cart, or the anonymous cart named by `token` (kept in the session)."""
    if user is not None and user.is_authenticated:
        cart = Cart.objects.filter(user=user).first()
        if cart is None and create:
            cart, _ = Cart.objects.get_or_create(user=user)
        return cart
    if not token:
        return None
    cart = Cart.objects.filter(session_key=token, user__isnull=True).first()
    if cart is None and create:
        cart, _ = Cart.objects.get_or_create(session_key=token)
    return cart


def _buyable_variant(variant_id: int) -> Variant:
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
    return variant


def cart_add(*, cart: Cart, variant_id: int, quantity: int) -> CartItem:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise DomainError(f"Choose a quantity from 1 to {MAX_QUANTITY}.", field="quantity")
    variant = _buyable_variant(variant_id)
    with transaction.atomic():
        item = CartItem.objects.select_for_update().filter(cart=cart, variant=variant).first()
        wanted = (item.quantity if item else 0) + quantity
        if wanted > variant.stock:
            raise DomainError(
                f"Only {variant.stock} of {variant.product.title} ({variant.name}) in stock.", field="quantity"
            )
        if item is None:
            item = CartItem.objects.create(
                cart=cart, variant=variant, quantity=wanted, price_seen_minor=variant.price_minor
            )
        else:
            item.quantity = wanted
            item.price_seen_minor = variant.price_minor
            item.save(update_fields=["quantity", "price_seen_minor"])
    return item


def cart_set_quantity(*, cart: Cart, variant_id: int, quantity: int) -> None:
    if quantity <= 0:
        CartItem.objects.filter(cart=cart, variant_id=variant_id).delete()
        return
    if quantity > MAX_QUANTITY:
        raise DomainError(f"Choose a quantity from 1 to {MAX_QUANTITY}.", field="quantity")
    variant = _buyable_variant(variant_id)
    if quantity > variant.stock:
        raise DomainError(
            f"Only {variant.stock} of {variant.product.title} ({variant.name}) in stock.", field="quantity"
        )
    CartItem.objects.filter(cart=cart, variant=variant).update(quantity=quantity)


def cart_merge(*, source: Cart, target: Cart) -> None:
    """Fold an anonymous cart into the signed-in user's cart (quantities add up, capped by stock)."""
    if source.pk == target.pk:
        return
    with transaction.atomic():
        for item in source.items.select_related("variant"):
            existing = target.items.filter(variant=item.variant).first()
            quantity = min((existing.quantity if existing else 0) + item.quantity, item.variant.stock, MAX_QUANTITY)
            if quantity <= 0:
                continue
            CartItem.objects.update_or_create(
                cart=target,
                variant=item.variant,
                defaults={"quantity": quantity, "price_seen_minor": item.price_seen_minor},
            )
        source.delete()


def cart_refresh_prices(*, cart: Cart, accepted: dict[int, int] | None = None) -> int:
    """After a price change the buyer has seen: take the current prices. With `accepted`
    ({variant id: price the buyer was shown}), an item whose price moved again since keeps
    its old one, so that checkout refuses it again. Returns how many items were re-priced."""
    repriced = [
        item
        for item in cart.items.select_related("variant")
        if item.price_seen_minor != item.variant.price_minor
        and (accepted is None or accepted.get(item.variant_id) == item.variant.price_minor)
    ]
    for item in repriced:
        item.price_seen_minor = item.variant.price_minor
    CartItem.objects.bulk_update(repriced, ["price_seen_minor"])
    return len(repriced)
