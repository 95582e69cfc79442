from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from orders.models import Cart, CartItem, Order, OrderEvent, OrderGroup


def cart_lines(cart: Cart | None) -> list[CartItem]:
    if cart is None:
        return []
    return list(
        cart.items.select_related("variant__product__shop", "variant__product__cover_photo").order_by("added_at", "pk")
    )


def order_list_for_buyer(*, buyer) -> QuerySet[Order]:
    return (
        Order.objects.filter(buyer=buyer)
        .exclude(status=Order.Status.EXPIRED)
        .select_related("shop")
        .prefetch_related("lines")
        .order_by("-created_at", "-pk")
    )


def order_get_for_buyer(*, buyer, order_id: int) -> Order:
    """Another buyer's order id is a 404."""
    return get_object_or_404(
        Order.objects.select_related("shop", "group").prefetch_related(
            "lines", Prefetch("events", queryset=OrderEvent.objects.select_related("actor"))
        ),
        pk=order_id,
        buyer=buyer,
    )


def group_get_for_buyer(*, buyer, group_id: int) -> OrderGroup:
    return get_object_or_404(
        OrderGroup.objects.prefetch_related("orders__shop", "orders__lines"), pk=group_id, buyer=buyer
    )


def order_list_for_shop(*, shop, status: str | None = None) -> QuerySet[Order]:
    qs = Order.objects.filter(shop=shop).exclude(status__in=[Order.Status.PENDING_PAYMENT, Order.Status.EXPIRED])
    if status:
        qs = qs.filter(status=status)
    return qs.select_related("buyer").prefetch_related("lines").order_by("-paid_at", "-pk")


def order_get_for_shop(*, shop, order_id: int) -> Order:
    """Another shop's order id is a 404."""
    return get_object_or_404(
        Order.objects.select_related("group", "buyer").prefetch_related("lines", "events"),
        pk=order_id,
        shop=shop,
        status__in=[s for s in Order.Status.values if s not in (Order.Status.PENDING_PAYMENT, Order.Status.EXPIRED)],
    )
