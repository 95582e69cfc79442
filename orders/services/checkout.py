"""Checkout: cart lines become one order group, one order per shop, stock reserved."""

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from marketplace.errors import ConflictError, DomainError
from marketplace.money import money_format
from marketplace.prepared import PreparedStatement, model_columns
from orders.models import Cart, Order, OrderEvent, OrderGroup
from orders.services.cart import MAX_QUANTITY
from shops.models import Product, Shop, Variant

PAY_WITHIN = timedelta(minutes=30)


@dataclass(frozen=True)
class Address:
    name: str
    phone: str
    address: str
    city: str
    postal_code: str = ""
    country: str = "CN"

    def problems(self) -> dict[str, str]:
        found = {}
        if not self.name.strip():
            found["name"] = "Enter the name of the person receiving the parcel."
        digits = [c for c in self.phone if c.isdigit()]
        if not 6 <= len(digits) <= 15 or any(not (c.isdigit() or c in " +-()") for c in self.phone):
            found["phone"] = "Enter a phone number the courier can call (digits, 6 to 15 of them)."
        if len(self.address.strip()) < 5:
            found["address"] = "Enter the street address with the building and flat number."
        if not self.city.strip():
            found["city"] = "Enter the city."
        if len(self.country) != 2 or not self.country.isalpha():
            found["country"] = "Choose a country."
        return found


@dataclass(frozen=True)
class PriceChange:
    variant_id: int
    price_seen_minor: int
    price_minor: int


class PriceChanged(ConflictError):
    """`changed` holds the lines whose price moved since the buyer saw it."""

    code = "price_changed"

    def __init__(self, message: str, *, changed: list[PriceChange]):
        super().__init__(message)
        self.changed = changed


@dataclass(frozen=True)
class CheckoutLine:
    variant_id: int
    quantity: int
    price_seen_minor: int
    promoter_id: int | None = None


def _lines_from_cart(cart: Cart) -> list[CheckoutLine]:
    return [CheckoutLine(i.variant_id, i.quantity, i.price_seen_minor) for i in cart.items.order_by("variant_id")]


def checkout_place(
    *,
    buyer,
    lines: list[CheckoutLine],
    address: Address,
    idempotency_key: str,
    shares_by_product: dict | None = None,
) -> OrderGroup:
    """Turn cart lines into one order group with one order per shop, reserving stock.

    Repeating the same idempotency key returns the first group. Raises DomainError with
    a message for an empty cart, a bad address, a changed price or missing stock; then
    nothing is reserved or created.
    """
    if not idempotency_key or len(idempotency_key) > 64:
        raise DomainError("The checkout form expired. Reload the page and try again.")
    try:
        if not lines:
            raise DomainError("Your cart is empty.")
        if problems := address.problems():
            field, message = next(iter(problems.items()))
            raise DomainError(message, field=field)
        # The checkout is one statement, so on its own it is its own transaction (no BEGIN and
        # COMMIT round trips). Inside a caller's transaction a savepoint keeps a twin's
        # unique-key failure from spoiling it.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            return _checkout_place_one(buyer, lines, address, idempotency_key, shares_by_product or {})
    except (DomainError, IntegrityError):
        # The key was used before (a double tap, a retry after a lost answer): its group is
        # the answer, whatever this attempt met (an emptied cart, stock it already holds, or
        # the group's unique key, on which a concurrent twin waits until the first commits).
        existing = OrderGroup.objects.filter(buyer=buyer, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing


# One statement reserves the stock of every line and places the group. The wanted variant rows
# are locked first, in id order, and checked as they are locked (a row another checkout changed
# meanwhile is checked in its new version): buyable, at the price the buyer saw, with enough
# stock. Only if every line passes are the variants decremented, then their products locked
# (in id order: every checkout takes its locks in this order, so none deadlocks) and their
# stock totals decremented, and the group, its orders (one per shop), their lines and their
# "placed" events inserted; the group's row comes back, born claimed for its PaymentIntent by
# this request (see OrderGroup.placed_now). Otherwise nothing is written and the one row that
# comes back has no group and lists the variants that passed (the caller raises the reason).
# Each line freezes its price, its promoter (the line's own, else the product's share; nobody
# earns on their own purchase or their own shop's products), rate and base. Every column is
# listed: a new NOT NULL field on these models must be added here too (every checkout test
# fails until it is).
_CHECKOUT = PreparedStatement(
    "checkout_place",
    """
WITH wanted AS (
    SELECT * FROM unnest(%(variant_ids)s::bigint[], %(quantities)s::bigint[], %(prices)s::bigint[],
                         %(line_promoters)s::bigint[])
        AS w(variant_id, quantity, price_seen, promoter_id)
), checked AS MATERIALIZED (
    SELECT v.id, v.product_id, v.name, v.price_minor, w.quantity, w.promoter_id AS line_promoter_id, p.title,
           p.commission_bps, p.shop_id, s.owner_id, s.shipping_fee_minor,
           v.is_active AND p.status = %(active)s AND s.status = %(open)s AND v.price_minor = w.price_seen
               AND v.stock >= w.quantity AS ok
      FROM shops_variant v
      JOIN wanted w ON w.variant_id = v.id
      JOIN shops_product p ON p.id = v.product_id
      JOIN shops_shop s ON s.id = p.shop_id
     WHERE v.id = ANY(%(variant_ids)s::bigint[])
     ORDER BY v.id
       FOR UPDATE OF v
), complete AS MATERIALIZED (
    SELECT count(*) FILTER (WHERE ok) = cardinality(%(variant_ids)s::bigint[]) AS ok FROM checked
), taken AS (
    UPDATE shops_variant v SET stock = v.stock - c.quantity
      FROM checked c, complete
     WHERE complete.ok AND v.id = ANY(%(variant_ids)s::bigint[]) AND v.id = c.id
    RETURNING c.id, c.product_id, c.name, c.price_minor, c.quantity, c.line_promoter_id, c.title, c.commission_bps,
              c.shop_id, c.owner_id, c.shipping_fee_minor
), products_locked AS MATERIALIZED (
    SELECT p.id FROM shops_product p WHERE p.id IN (SELECT product_id FROM taken) ORDER BY p.id FOR UPDATE
), products AS (
    UPDATE shops_product p SET stock_total = p.stock_total - t.quantity
      FROM (SELECT product_id, sum(quantity) AS quantity FROM taken GROUP BY 1) t, products_locked
     WHERE p.id = t.product_id AND products_locked.id = p.id
), attributed AS (
    SELECT t.*, sh.share_id, coalesce(t.line_promoter_id, sh.promoter_id) AS candidate
      FROM taken t
      LEFT JOIN unnest(%(share_products)s::bigint[], %(share_ids)s::bigint[], %(share_promoters)s::bigint[])
           AS sh(product_id, share_id, promoter_id) ON sh.product_id = t.product_id
), line_rows AS (
    SELECT a.*, CASE WHEN a.candidate IN (%(buyer)s, a.owner_id) THEN NULL ELSE a.candidate END AS promoter_id
      FROM attributed a
), shop_rows AS (
    SELECT shop_id, sum(price_minor * quantity) AS items, min(shipping_fee_minor) AS shipping
      FROM taken GROUP BY shop_id
), placed AS (
    INSERT INTO orders_ordergroup (
        buyer_id, idempotency_key, status, currency, total_minor, ship_name, ship_phone, ship_address, ship_city,
        ship_postal_code, ship_country, payment_intent_id, payment_intent_started_at, payment_client_secret,
        card_fingerprint, created_at, pay_by
    )
    SELECT %(buyer)s, %(key)s, %(group_status)s, %(currency)s, (SELECT sum(items + shipping) FROM shop_rows),
           %(ship_name)s, %(ship_phone)s, %(ship_address)s, %(ship_city)s, %(ship_postal_code)s, %(ship_country)s,
           'creating', %(now)s, '', '', %(now)s, %(pay_by)s
     WHERE (SELECT ok FROM complete)
    RETURNING *
), orders AS (
    INSERT INTO orders_order (
        group_id, shop_id, buyer_id, status, currency, items_minor, shipping_minor, total_minor, platform_fee_bps,
        refunded_minor, is_held, held_by, held_reason, created_at, carrier, tracking_number
    )
    SELECT placed.id, o.shop_id, %(buyer)s, %(order_status)s, %(currency)s, o.items, o.shipping,
           o.items + o.shipping, %(fee_bps)s, 0, false, '', '', %(now)s, '', ''
      FROM placed, shop_rows o
     ORDER BY o.shop_id
    RETURNING id, shop_id
), lines AS (
    INSERT INTO orders_orderline (
        order_id, product_id, variant_id, title, variant_name, unit_price_minor, quantity, total_minor,
        promoter_id, commission_bps, commission_base_minor, share_id
    )
    SELECT orders.id, l.product_id, l.id, l.title, l.name, l.price_minor, l.quantity, l.price_minor * l.quantity,
           l.promoter_id,
           CASE WHEN l.promoter_id IS NULL THEN 0 ELSE l.commission_bps END,
           CASE WHEN l.promoter_id IS NULL THEN 0 ELSE l.price_minor * l.quantity END,
           CASE WHEN l.promoter_id IS NULL THEN NULL ELSE l.share_id END
      FROM orders JOIN line_rows l ON l.shop_id = orders.shop_id
     ORDER BY l.shop_id, l.id
), events AS (
    INSERT INTO orders_orderevent (order_id, kind, actor_id, note, created_at)
    SELECT id, %(event)s, %(buyer)s, %(note)s, %(now)s FROM orders
)
SELECT """  # noqa: S608 (the model's own column names)
    + model_columns(OrderGroup)
    + """, true AS placed_now, NULL::bigint[] AS taken_ids FROM placed
UNION ALL
SELECT """
    + ", ".join(["NULL"] * len(OrderGroup._meta.concrete_fields))
    + """, false, (SELECT coalesce(array_agg(id) FILTER (WHERE ok), '{}') FROM checked)
 WHERE NOT (SELECT ok FROM complete)
""",
    variant_ids="bigint[]",
    quantities="bigint[]",
    prices="bigint[]",
    line_promoters="bigint[]",
    active="text",
    open="text",
    share_products="bigint[]",
    share_ids="bigint[]",
    share_promoters="bigint[]",
    buyer="bigint",
    key="text",
    group_status="text",
    currency="text",
    ship_name="text",
    ship_phone="text",
    ship_address="text",
    ship_city="text",
    ship_postal_code="text",
    ship_country="text",
    now="timestamptz",
    pay_by="timestamptz",
    order_status="text",
    fee_bps="integer",
    note="text",
    event="text",
)


def _checkout_place_one(buyer, lines, address, idempotency_key, shares_by_product) -> OrderGroup:
    wanted: dict[int, CheckoutLine] = {}
    for line in lines:
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise DomainError(f"Choose a quantity from 1 to {MAX_QUANTITY}.", field="quantity")
        wanted[line.variant_id] = line
    ids = sorted(wanted)
    now = timezone.now()
    (group,) = _CHECKOUT.instances(
        OrderGroup,
        {
            "variant_ids": ids,
            "quantities": [wanted[pk].quantity for pk in ids],
            "prices": [wanted[pk].price_seen_minor for pk in ids],
            "line_promoters": [wanted[pk].promoter_id for pk in ids],
            "active": Product.Status.ACTIVE,
            "open": Shop.Status.ACTIVE,
            "share_products": list(shares_by_product),
            "share_ids": [share.pk for share in shares_by_product.values()],
            "share_promoters": [share.promoter_id for share in shares_by_product.values()],
            "buyer": buyer.pk,
            "key": idempotency_key,
            "group_status": OrderGroup.Status.PENDING_PAYMENT,
            "currency": settings.MARKETPLACE_CURRENCY,
            "ship_name": address.name.strip(),
            "ship_phone": address.phone.strip(),
            "ship_address": address.address.strip(),
            "ship_city": address.city.strip(),
            "ship_postal_code": address.postal_code.strip(),
            "ship_country": address.country.upper(),
            "now": now,
            "pay_by": now + PAY_WITHIN,
            "order_status": Order.Status.PENDING_PAYMENT,
            "fee_bps": settings.MARKETPLACE_PLATFORM_FEE_BPS,
            "note": "Order placed; waiting for payment.",
            "event": OrderEvent.Kind.PLACED,
        },
    )
    if group.taken_ids is not None:
        _checkout_refuse(wanted, taken=set(group.taken_ids))
    # A concurrent request with the same key waits on the group's unique index, then fails
    # and its reservation is rolled back with it.
    return group


def _checkout_refuse(wanted: dict[int, CheckoutLine], *, taken: set[int]) -> None:
    """Raise the reason a line was refused (nothing was written). Read after the checkout's
    locks are gone, a line may have become buyable again since: that says so."""
    refused = sorted(set(wanted) - taken)
    variants = {v.pk: v for v in Variant.objects.filter(pk__in=refused).select_related("product__shop")}
    changed = []
    for variant_id in refused:
        variant = variants.get(variant_id)
        if (
            variant is None
            or not variant.is_active
            or variant.product.status != Product.Status.ACTIVE
            or not variant.product.shop.is_open
        ):
            title = variant.product.title if variant else "An item"
            raise DomainError(f"{title} can no longer be bought. Remove it from your cart.")
        if variant.price_minor != wanted[variant_id].price_seen_minor:
            changed.append(variant)
    if changed:
        names = ", ".join(f"{v.product.title} ({v.name}) is now {money_format(v.price_minor)}" for v in changed)
        raise PriceChanged(
            f"Prices changed since you added them: {names}. Check the new total and pay again.",
            changed=[PriceChange(v.pk, wanted[v.pk].price_seen_minor, v.price_minor) for v in changed],
        )
    variant = variants[refused[0]]
    if variant.stock >= wanted[variant.pk].quantity:
        # Its product or shop came back on sale after the reservation read it.
        raise ConflictError("Your cart changed while you were checking out. Try again.")
    raise ConflictError(
        f"Only {variant.stock} of {variant.product.title} ({variant.name}) left; lower the quantity."
        if variant.stock
        else f"{variant.product.title} ({variant.name}) just sold out."
    )


@dataclass(frozen=True)
class CheckoutAttribution:
    """Who shared what a checkout buys: the share per product id (its promoter earns on that
    product's lines), and what to record in the checkout's transaction once the group is
    placed (why an attribution earned nothing)."""

    shares_by_product: dict = field(default_factory=dict)
    on_placed: Callable[[OrderGroup], None] | None = None


# Attribution is referrals' (a higher layer): it registers its attributor here from its
# AppConfig.ready, so that checkout never imports it. Called with visitor_id, buyer,
# products (with their shops) and address; returns a CheckoutAttribution.
CHECKOUT_ATTRIBUTORS: list = []


def checkout_attributor_register(attributor) -> None:
    if attributor not in CHECKOUT_ATTRIBUTORS:
        CHECKOUT_ATTRIBUTORS.append(attributor)


def _attribution(*, visitor_id: str | None, buyer, cart: Cart, address: Address) -> CheckoutAttribution:
    if not visitor_id or not CHECKOUT_ATTRIBUTORS:
        return CheckoutAttribution()
    products = list(Product.objects.filter(pk__in=cart.items.values("variant__product_id")).select_related("shop"))
    (attributor,) = CHECKOUT_ATTRIBUTORS
    return attributor(visitor_id=visitor_id, buyer=buyer, products=products, address=address)


def checkout_from_cart(
    *, buyer, cart: Cart, address: Address, idempotency_key: str, visitor_id: str | None = None
) -> OrderGroup:
    """The checkout of the pages and the API alike: the cart's lines become one order group
    (checkout_place), attributed to the promoter whose share the visitor `visitor_id`
    opened last (the share landing's cookie, or the id the landing endpoint returned), with
    the refused attributions recorded in the same transaction; the placed lines leave the
    cart. A repeated idempotency key returns the first group."""
    attribution = _attribution(visitor_id=visitor_id, buyer=buyer, cart=cart, address=address)
    # Without anything to record, checkout_place's one statement is its own transaction.
    with transaction.atomic() if attribution.on_placed else nullcontext():
        group = checkout_place(
            buyer=buyer,
            lines=_lines_from_cart(cart),
            address=address,
            idempotency_key=idempotency_key,
            shares_by_product=attribution.shares_by_product,
        )
        if attribution.on_placed is not None:
            attribution.on_placed(group)
    cart.items.filter(variant_id__in=group.orders.values("lines__variant_id")).delete()
    return group
