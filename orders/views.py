"""Buyer pages: cart, checkout, payment, orders; merchant pages: orders, shipping, earnings."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from disputes import selectors as dispute_selectors
from marketplace.errors import DomainError
from marketplace.web import VISITOR_COOKIE, merchant_required
from orders import selectors, services
from orders.forms import AddressForm, ShipForm
from orders.models import Order, OrderGroup
from payments import selectors as payment_selectors
from payments import services as payment_services
from payments import stripe_client
from payments.local_stripe import TEST_CARDS
from payments.tasks import local_events_deliver_task

CART_TOKEN = "cart_token"  # noqa: S105 - a session key name, not a secret


def _cart(request, create: bool = False):
    token = request.session.get(CART_TOKEN)
    if not request.user.is_authenticated and create and not token:
        token = request.session[CART_TOKEN] = uuid.uuid4().hex
    return services.cart_for(user=request.user, token=token, create=create)


def _back(request, fallback: str = "cart"):
    referer = request.META.get("HTTP_REFERER", "")
    return redirect(referer if referer.startswith(request.build_absolute_uri("/")) else fallback)


def cart(request):
    lines = selectors.cart_lines(_cart(request))
    shops: dict = {}
    for line in lines:
        shops.setdefault(line.variant.product.shop, []).append(line)
    items_total = sum(line.variant.price_minor * line.quantity for line in lines)
    shipping = sum(shop.shipping_fee_minor for shop in shops)
    return render(
        request,
        "orders/cart.html",
        {"shops": shops, "items_total": items_total, "shipping_total": shipping, "total": items_total + shipping},
    )


@require_POST
def cart_add(request):
    try:
        variant_id = int(request.POST.get("variant", ""))
        quantity = int(request.POST.get("quantity", "1"))
    except ValueError:
        messages.error(request, "Choose an option and a whole-number quantity.")
        return _back(request)
    try:
        item = services.cart_add(cart=_cart(request, create=True), variant_id=variant_id, quantity=quantity)
    except DomainError as exc:
        messages.error(request, exc.message)
        return _back(request)
    messages.success(request, f"Added {item.variant.product.title} to your cart.")
    return redirect("cart")


@require_POST
def cart_update(request):
    try:
        variant_id = int(request.POST.get("variant", ""))
        quantity = int(request.POST.get("quantity", ""))
    except ValueError:
        messages.error(request, "Enter a whole-number quantity.")
        return redirect("cart")
    cart_obj = _cart(request)
    if cart_obj is not None:
        try:
            services.cart_set_quantity(cart=cart_obj, variant_id=variant_id, quantity=quantity)
        except DomainError as exc:
            messages.error(request, exc.message)
    return redirect("cart")


@require_POST
def cart_remove(request):
    cart_obj = _cart(request)
    try:
        variant_id = int(request.POST.get("variant", ""))
    except ValueError:
        messages.error(request, "That item is not in your cart.")
        return redirect("cart")
    if cart_obj is not None:
        services.cart_set_quantity(cart=cart_obj, variant_id=variant_id, quantity=0)
    return redirect("cart")


@login_required
@require_http_methods(["GET", "POST"])
def checkout(request):
    if request.method == "POST":
        # A double tap: the first submit already emptied the cart; its group is the answer.
        key = request.POST.get("idempotency_key", "")
        # A NUL cannot be in a stored key (nor in a PostgreSQL query): the form refuses it below.
        done = OrderGroup.objects.filter(buyer=request.user, idempotency_key=key)
        if "\x00" not in key and (group := done.only("pk").first()) is not None:
            return redirect("pay", group_id=group.pk)
    cart_obj = _cart(request)
    lines = selectors.cart_lines(cart_obj)
    if not lines:
        messages.info(request, "Your cart is empty.")
        return redirect("cart")
    form = AddressForm(request.POST or None, initial={"idempotency_key": uuid.uuid4().hex})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        address = services.Address(
            name=data["name"], phone=data["phone"], address=data["address"], city=data["city"],
            postal_code=data["postal_code"],
        )  # fmt: skip
        try:
            group = services.checkout_from_cart(
                buyer=request.user,
                cart=cart_obj,
                address=address,
                idempotency_key=data["idempotency_key"],
                visitor_id=request.COOKIES.get(VISITOR_COOKIE),
            )
            payment_services.payment_intent_ensure(group_id=group.pk, placed=group)
        except services.PriceChanged as exc:
            services.cart_refresh_prices(cart=cart_obj)
            messages.warning(request, exc.message)
            return redirect("cart")
        except DomainError as exc:
            if exc.field in form.fields:
                form.add_error(exc.field, exc.message)
            else:
                messages.error(request, exc.message)
                return redirect("cart")
        except stripe_client.StripeFailure as exc:
            messages.error(request, exc.user_message + " Your items are reserved for 30 minutes.")
            return redirect("orders")
        else:
            return redirect("pay", group_id=group.pk)
    total = sum(line.variant.price_minor * line.quantity for line in lines)
    shipping = sum(
        {line.variant.product.shop_id: line.variant.product.shop.shipping_fee_minor for line in lines}.values()
    )
    return render(
        request, "orders/checkout.html", {"form": form, "lines": lines, "total": total + shipping, "shipping": shipping}
    )


@login_required
@require_http_methods(["GET", "POST"])
def pay(request, group_id: int):
    group = selectors.group_get_for_buyer(buyer=request.user, group_id=group_id)
    if group.status == OrderGroup.Status.PAID:
        return redirect("order_group_done", group_id=group.pk)
    if group.status == OrderGroup.Status.EXPIRED:
        messages.error(request, "This payment was not completed in time; the items went back on sale.")
        return redirect("orders")
    try:
        group = payment_services.payment_intent_ensure(group_id=group.pk)
    except stripe_client.StripeFailure as exc:
        messages.error(request, exc.user_message)
    # Another request (the checkout's, or a double tap's) is creating the PaymentIntent.
    preparing = group.payment_intent_id in ("", "creating")
    if request.method == "POST":
        if not settings.STRIPE_TEST_MODE:
            raise Http404
        if preparing:
            messages.info(request, "Your payment is still being prepared. Try again in a moment.")
            return redirect("pay", group_id=group.pk)
        card = request.POST.get("card", "")
        if card not in TEST_CARDS:
            messages.error(request, "Choose one of the test cards.")
            return redirect("pay", group_id=group.pk)
        try:
            stripe_client.payment_intent_confirm_test(payment_intent_id=group.payment_intent_id, payment_method=card)
        except stripe_client.StripeFailure as exc:
            messages.error(request, f"Payment failed: {exc.user_message} Nothing was charged; try another card.")
            local_events_deliver_task.delay()
            return redirect("pay", group_id=group.pk)
        # Stripe delivers the webhook on its own schedule; so does the local Stripe, via the worker.
        local_events_deliver_task.delay()
        return redirect("order_group_done", group_id=group.pk)
    return render(
        request,
        "orders/pay.html",
        {"group": group, "preparing": preparing, "test_mode": settings.STRIPE_TEST_MODE, "test_cards": TEST_CARDS,
         "publishable_key": settings.STRIPE_PUBLISHABLE_KEY},
    )  # fmt: skip


@login_required
def order_group_done(request, group_id: int):
    """After paying: waits (htmx polling) until the webhook has marked the group paid."""
    group = selectors.group_get_for_buyer(buyer=request.user, group_id=group_id)
    template = "orders/_group_status.html" if request.htmx else "orders/group_done.html"
    return render(request, template, {"group": group})


@login_required
def orders(request):
    return render(
        request, "orders/order_list.html", {"orders": list(selectors.order_list_for_buyer(buyer=request.user)[:100])}
    )


@login_required
def order_detail(request, order_id: int):
    order = selectors.order_get_for_buyer(buyer=request.user, order_id=order_id)
    return render(
        request,
        "orders/order_detail.html",
        {
            "order": order,
            "money": payment_selectors.order_money(order),
            "lines": dispute_selectors.after_sales_order_lines(order=order),
            "requests": dispute_selectors.after_sales_open_for_order(order=order),
        },
    )


@login_required
@require_POST
def order_confirm(request, order_id: int):
    order = selectors.order_get_for_buyer(buyer=request.user, order_id=order_id)
    try:
        services.order_confirm_receipt(order_id=order.pk, buyer=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Thanks! Receipt confirmed; the after-sales window is now open.")
    return redirect("order_detail", order_id=order.pk)


@login_required
@require_POST
def order_cancel(request, order_id: int):
    order = selectors.order_get_for_buyer(buyer=request.user, order_id=order_id)
    try:
        payment_services.order_cancel(
            order_id=order.pk, actor=request.user, reason="Cancelled by the buyer before shipping."
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Order cancelled. The full amount is on its way back to you.")
    return redirect("order_detail", order_id=order.pk)


# --- Merchant ---------------------------------------------------------------------------


@merchant_required
def merchant_orders(request):
    status = request.GET.get("status") or None
    if status not in (None, *Order.Status.values):
        status = None
    orders_list = list(selectors.order_list_for_shop(shop=request.shop, status=status)[:200])
    return render(
        request,
        "orders/merchant_orders.html",
        {"orders": orders_list, "status": status, "statuses": Order.Status.choices},
    )


@merchant_required
@require_http_methods(["GET", "POST"])
def merchant_order_detail(request, order_id: int):
    order = selectors.order_get_for_shop(shop=request.shop, order_id=order_id)
    form = ShipForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.order_ship(order_id=order.pk, merchant=request.user, **form.cleaned_data)
        except DomainError as exc:
            if exc.field in form.fields:
                form.add_error(exc.field, exc.message)
            else:
                messages.error(request, exc.message)
        else:
            messages.success(request, "Marked as shipped. The buyer can follow the parcel now.")
            return redirect("merchant_order_detail", order_id=order.pk)
    return render(
        request,
        "orders/merchant_order_detail.html",
        {
            "order": order,
            "form": form,
            "money": payment_selectors.order_money(order),
            "requests": dispute_selectors.after_sales_open_for_order(order=order),
        },
    )


@merchant_required
def merchant_earnings(request):
    return render(
        request,
        "orders/merchant_earnings.html",
        {
            "balances": payment_selectors.merchant_balances(shop=request.shop),
            "shop": request.shop,
            "payouts": request.shop.payouts.order_by("-created_at", "-pk")[:20],
            "payout_minimum": settings.MARKETPLACE_PAYOUT_MINIMUM_MINOR,
        },
    )
