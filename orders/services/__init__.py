"""The orders app's writes, by concept: cart, checkout, transitions. Callers import from
here; the transitions that move money are payments.services'."""

from orders.services.cart import (
    MAX_QUANTITY,
    cart_add,
    cart_for,
    cart_merge,
    cart_refresh_prices,
    cart_set_quantity,
)
from orders.services.checkout import (
    PAY_WITHIN,
    Address,
    CheckoutLine,
    PriceChange,
    PriceChanged,
    checkout_from_cart,
    checkout_place,
)
from orders.services.transitions import (
    SHIP_GRACE,
    order_confirm_receipt,
    order_group_mark_expired,
    order_group_pay,
    order_mark_cancelled,
    order_mark_held,
    order_mark_hold_released,
    order_ship,
    order_ship_reminder,
    order_transition,
    order_unshipped_due,
)

__all__ = [
    "MAX_QUANTITY",
    "PAY_WITHIN",
    "SHIP_GRACE",
    "Address",
    "CheckoutLine",
    "PriceChange",
    "PriceChanged",
    "cart_add",
    "cart_for",
    "cart_merge",
    "cart_refresh_prices",
    "cart_set_quantity",
    "checkout_from_cart",
    "checkout_place",
    "order_confirm_receipt",
    "order_group_mark_expired",
    "order_group_pay",
    "order_mark_cancelled",
    "order_mark_held",
    "order_mark_hold_released",
    "order_ship",
    "order_ship_reminder",
    "order_transition",
    "order_unshipped_due",
]
