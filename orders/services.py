"""Checkout and the order's life: one function per transition, each under a row lock."""

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from marketplace.errors import ConflictError, DomainError
from marketplace.prepared import PreparedStatement, model_columns
from orders.models import Cart, CartItem, Order, OrderEvent, OrderGroup, OrderLine
from shops.models import Product, Shop, Variant

PAY_WITHIN = timedelta(minutes=30)
MAX_QUANTITY = 99


# --- Cart -------------------------------------------------------------------------------


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


# --- Checkout ---------------------------------------------------------------------------


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
        refunded_minor, is_held, held_reason, created_at, carrier, tracking_number
    )
    SELECT placed.id, o.shop_id, %(buyer)s, %(order_status)s, %(currency)s, o.items, o.shipping,
           o.items + o.shipping, %(fee_bps)s, 0, false, '', %(now)s, '', ''
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
    SELECT id, 'placed', %(buyer)s, %(note)s, %(now)s FROM orders
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
        names = ", ".join(f"{v.product.title} ({v.name}) is now {_fmt(v.price_minor)}" for v in changed)
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


def _fmt(minor: int) -> str:
    from marketplace.money import money_format

    return money_format(minor)


def checkout_from_cart(*, buyer, cart: Cart, address: Address, idempotency_key: str, shares_by_product=None):
    group = checkout_place(
        buyer=buyer,
        lines=_lines_from_cart(cart),
        address=address,
        idempotency_key=idempotency_key,
        shares_by_product=shares_by_product,
    )
    cart.items.filter(variant_id__in=group.orders.values("lines__variant_id")).delete()
    return group


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


# --- Transitions ------------------------------------------------------------------------


def _event(order: Order, kind: str, actor=None, note: str = "") -> None:
    OrderEvent.objects.create(order=order, kind=kind, actor=actor, note=note[:300])


def _lock(order_id: int) -> Order:
    return Order.objects.select_for_update().get(pk=order_id)


def _require(order: Order, *allowed: str, action: str) -> None:
    if order.status not in allowed:
        raise ConflictError(f"This order is {order.get_status_display().lower()}; it cannot be {action}.")


def _release_stock(order: Order) -> None:
    for line in order.lines.order_by("variant_id"):
        Variant.objects.filter(pk=line.variant_id).update(stock=F("stock") + line.quantity)
        Product.objects.filter(pk=line.product_id).update(stock_total=F("stock_total") + line.quantity)


# The claim and its effect in one statement. The group takes the payment if it waits for
# exactly this one (blank or "creating": the buyer paid before the id was recorded); its row
# is locked first (the orders' scan needs its id), then the orders' rows in id order, as every
# transition takes them. Each paid order gets its timeline event. No row: nothing was claimed.
_GROUP_PAY = PreparedStatement(
    "order_group_pay",
    """
    WITH claimed AS (
        UPDATE orders_ordergroup
           SET status = %(group_paid)s, paid_at = %(now)s, payment_intent_id = %(intent)s, card_fingerprint = %(card)s
         WHERE id = %(group)s AND status = %(pending)s AND total_minor = %(amount)s
           AND payment_intent_id IN ('', 'creating', %(intent)s)
        RETURNING id
    ), paid AS (
        UPDATE orders_order SET status = %(paid)s, paid_at = %(now)s, ship_by = %(ship_by)s
         WHERE id IN (SELECT id FROM orders_order WHERE group_id = (SELECT id FROM claimed) ORDER BY id FOR UPDATE)
        RETURNING *
    ), timeline AS (
        INSERT INTO orders_orderevent (order_id, kind, actor_id, note, created_at)
        SELECT id, 'paid', NULL, %(note)s, %(now)s FROM paid
    )
    SELECT """  # noqa: S608 (the model's own column names)
    + model_columns(Order, "paid")
    + """, EXISTS (
        SELECT 1 FROM orders_orderline l
         WHERE l.order_id = paid.id AND l.promoter_id IS NOT NULL AND l.commission_bps > 0
    ) AS has_commission
      FROM paid ORDER BY id
    """,
    group_paid="text",
    now="timestamptz",
    intent="text",
    card="text",
    group="bigint",
    pending="text",
    amount="bigint",
    paid="text",
    ship_by="timestamptz",
    note="text",
)


def order_group_mark_paid(*, group_id: int, amount_minor: int, payment_intent_id: str, card_fingerprint: str = ""):
    """Payment succeeded: each order's money is held in its escrow account.

    Idempotent (a second success changes nothing). Returns the list of orders paid now.
    Raises OrderGroup.DoesNotExist if the group records another PaymentIntent, and
    DomainError, before changing anything, for a payment that cannot be taken: the wrong
    amount, or a group that expired (its items went back on sale); the caller gives the
    money back.
    """
    from payments.services import escrow_capture
    from referrals.services import commissions_screen_card

    now = timezone.now()
    card_fingerprint = card_fingerprint[:64]
    # No savepoint of its own: the caller's transaction (the webhook's, with the event row)
    # commits or rolls back the payment as one.
    with transaction.atomic(savepoint=False):
        paid = _GROUP_PAY.instances(
            Order,
            {
                "group_paid": OrderGroup.Status.PAID,
                "now": now,
                "intent": payment_intent_id,
                "card": card_fingerprint,
                "group": group_id,
                "pending": OrderGroup.Status.PENDING_PAYMENT,
                "amount": amount_minor,
                "paid": Order.Status.PAID,
                "ship_by": now + timedelta(days=settings.MARKETPLACE_SHIP_BY_DAYS),
                "note": "Payment received and held until you confirm receipt.",
            },
        )
        if not paid:
            _group_payment_refuse(group_id, amount_minor, payment_intent_id)
            return []
        commission_lines = []
        if any(order.has_commission for order in paid):
            commission_lines = list(
                OrderLine.objects.filter(order__group_id=group_id, promoter__isnull=False, commission_bps__gt=0)
            )
            commissions_screen_card(group_id=group_id, card_fingerprint=card_fingerprint, lines=commission_lines)
        escrow_capture(orders=paid, lines=commission_lines)
    return paid


def _group_payment_refuse(group_id: int, amount_minor: int, payment_intent_id: str) -> None:
    """Why a group did not take a payment, read under its row lock: raises, or returns when
    the group was paid by this PaymentIntent already (a repeated success)."""
    group = OrderGroup.objects.select_for_update().get(pk=group_id)
    if group.payment_intent_id not in ("", "creating", payment_intent_id):
        raise OrderGroup.DoesNotExist(f"Order group {group.pk} has another PaymentIntent.")
    if group.status == OrderGroup.Status.PAID:
        return
    if amount_minor != group.total_minor:
        raise DomainError(f"Paid {amount_minor} but the order group totals {group.total_minor}.")
    if group.status == OrderGroup.Status.EXPIRED:
        raise ConflictError("The payment arrived after the checkout expired and its items went back on sale.")
    # Not a refusal: the claim found the group in a state no transition leaves it in.
    raise RuntimeError(f"Order group {group.pk} ({group.status}) did not take a payment it should take.")


def order_group_expire(*, group_id: int) -> bool:
    """An unpaid group past its pay-by time: release the stock, and after commit cancel its
    PaymentIntent at Stripe so that it can no longer be paid (a payment that still arrives
    is refunded by the webhook handler). Returns True if expired now."""
    from payments.tasks import payment_intent_cancel_task

    with transaction.atomic():
        group = OrderGroup.objects.select_for_update().get(pk=group_id)
        if group.status != OrderGroup.Status.PENDING_PAYMENT or group.pay_by > timezone.now():
            return False
        group.status = OrderGroup.Status.EXPIRED
        group.save(update_fields=["status"])
        for order in group.orders.select_for_update().order_by("pk"):
            order.status = Order.Status.EXPIRED
            order.save(update_fields=["status"])
            _release_stock(order)
            _event(order, "expired", note="Payment was not completed in time; the items went back on sale.")
        if group.payment_intent_id:
            transaction.on_commit(lambda: payment_intent_cancel_task.delay(group_id))
    return True


def order_ship(*, order_id: int, merchant, carrier: str, tracking_number: str) -> Order:
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if not carrier:
        raise DomainError("Enter the carrier (e.g. SF Express).", field="carrier")
    if not 4 <= len(tracking_number) <= 60 or not tracking_number.replace("-", "").isalnum():
        raise DomainError("Enter the tracking number: 4 to 60 letters and digits.", field="tracking_number")
    with transaction.atomic():
        order = _lock(order_id)
        if order.shop.owner_id != merchant.pk:
            raise Order.DoesNotExist
        _require(order, Order.Status.PAID, action="shipped")
        now = timezone.now()
        order.status = Order.Status.SHIPPED
        order.shipped_at = now
        order.carrier = carrier[:60]
        order.tracking_number = tracking_number
        order.auto_confirm_at = now + timedelta(days=settings.MARKETPLACE_AUTO_CONFIRM_DAYS)
        order.save(update_fields=["status", "shipped_at", "carrier", "tracking_number", "auto_confirm_at"])
        _event(order, "shipped", actor=merchant, note=f"Shipped with {carrier}, tracking number {tracking_number}.")
    return order


def order_confirm_receipt(*, order_id: int, buyer=None) -> Order:
    """The buyer confirms receipt (buyer given) or the auto-confirm timer does (buyer None)."""
    with transaction.atomic():
        order = _lock(order_id)
        if buyer is not None and order.buyer_id != buyer.pk:
            raise Order.DoesNotExist
        _require(order, Order.Status.SHIPPED, action="confirmed as received")
        now = timezone.now()
        if buyer is None and (order.is_held or order.auto_confirm_at is None or order.auto_confirm_at > now):
            raise ConflictError("This order is not due for automatic confirmation.")
        order.status = Order.Status.RECEIVED
        order.received_at = now
        order.after_sales_ends_at = now + timedelta(days=settings.MARKETPLACE_AFTER_SALES_DAYS)
        order.save(update_fields=["status", "received_at", "after_sales_ends_at"])
        note = "Buyer confirmed receipt." if buyer else "Receipt confirmed automatically after the waiting period."
        _event(order, "received", actor=buyer, note=note)
    return order


def order_cancel(*, order_id: int, actor, reason: str) -> Order:
    """Cancel before shipping: stock goes back and the buyer gets a full refund."""
    from payments.services import refund_create

    reason = reason.strip() or "Cancelled before shipping."
    with transaction.atomic():
        order = _lock(order_id)
        is_buyer = actor is not None and order.buyer_id == actor.pk
        is_merchant = actor is not None and order.shop.owner_id == actor.pk
        if actor is not None and not (is_buyer or is_merchant or actor.is_staff):
            raise Order.DoesNotExist
        _require(order, Order.Status.PAID, action="cancelled")
        if order.is_held:
            raise ConflictError("An open after-sales request holds this order; it is decided there.")
        order.status = Order.Status.CANCELLED
        order.cancelled_at = timezone.now()
        order.save(update_fields=["status", "cancelled_at"])
        _release_stock(order)
        if order.total_minor > order.refunded_minor:
            refund_create(order=order, amount_minor=order.total_minor - order.refunded_minor, reason=reason)
        _event(order, "cancelled", actor=actor, note=f"{reason} Full refund issued.")
    return order


def order_hold(*, order_id: int, reason: str, note: str = "") -> Order:
    """The disputes hook: freeze the order's held payment and its commissions, and pause
    its timers. `reason` is for staff (the admin shows it); `note`, the timeline entry that
    buyer and merchant read, is the reason itself unless given."""
    from payments.services import commission_freeze

    with transaction.atomic():
        order = _lock(order_id)
        if order.status in (Order.Status.SETTLED, Order.Status.CANCELLED, Order.Status.EXPIRED):
            raise ConflictError("A completed order can no longer be held.")
        order.is_held = True
        order.held_reason = reason[:200]
        order.save(update_fields=["is_held", "held_reason"])
        commission_freeze(order=order)
        _event(order, "held", note=note or reason)
    return order


def order_release_hold(*, order_id: int, note: str = "") -> Order:
    from payments.services import commission_unfreeze

    with transaction.atomic():
        order = _lock(order_id)
        if not order.is_held:
            return order
        order.is_held = False
        order.held_reason = ""
        now = timezone.now()
        # Paused timers restart from now, so the buyer never loses waiting time to a dispute.
        if order.status == Order.Status.SHIPPED and order.auto_confirm_at and order.auto_confirm_at < now:
            order.auto_confirm_at = now + timedelta(days=1)
        if order.status == Order.Status.RECEIVED and order.after_sales_ends_at and order.after_sales_ends_at < now:
            order.after_sales_ends_at = now + timedelta(days=1)
        order.save(update_fields=["is_held", "held_reason", "auto_confirm_at", "after_sales_ends_at"])
        commission_unfreeze(order=order)
        _event(order, "hold_released", note=note or "Hold released.")
    return order


def order_ship_reminder(*, order_id: int) -> bool:
    """Remind the merchant once that the ship-by deadline is close."""
    updated = Order.objects.filter(pk=order_id, status=Order.Status.PAID, ship_reminder_sent_at__isnull=True).update(
        ship_reminder_sent_at=timezone.now()
    )
    if updated:
        order = Order.objects.get(pk=order_id)
        _event(
            order, "ship_reminder", note="Reminder: ship before the deadline or the order is cancelled and refunded."
        )
    return bool(updated)


# Grace after the ship-by deadline before the sweeper cancels on the buyer's behalf.
SHIP_GRACE = timedelta(days=1)


def order_cancel_unshipped(*, order_id: int) -> bool:
    """The ship-by deadline (plus grace) passed: cancel and refund in full."""
    order = Order.objects.filter(pk=order_id).only("status", "ship_by", "is_held").first()
    if (
        order is None
        or order.status != Order.Status.PAID
        or order.is_held
        or order.ship_by is None
        or order.ship_by + SHIP_GRACE > timezone.now()
    ):
        return False
    order_cancel(order_id=order_id, actor=None, reason="The shop did not ship in time.")
    return True
