from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from marketplace.errors import DomainError
from orders import cart as cart_service


def cart(request):
    lines = cart_service.cart_lines(request.session)
    shops: dict = {}
    for line in lines:
        shops.setdefault(line.variant.product.shop, []).append(line)
    total = sum(line.total_minor for line in lines)
    return render(request, "orders/cart.html", {"shops": shops, "total_minor": total})


@require_POST
def cart_add(request):
    try:
        variant_id = int(request.POST.get("variant", ""))
        quantity = int(request.POST.get("quantity", "1"))
    except ValueError:
        messages.error(request, "Choose an option and a whole-number quantity.")
        return redirect(request.META.get("HTTP_REFERER") or "cart")
    try:
        variant = cart_service.cart_add(request.session, variant_id=variant_id, quantity=quantity)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(request.META.get("HTTP_REFERER") or "cart")
    messages.success(request, f"Added {variant.product.title} to your cart.")
    return redirect("cart")


@require_POST
def cart_remove(request):
    try:
        cart_service.cart_remove(request.session, variant_id=int(request.POST.get("variant", "")))
    except ValueError:
        messages.error(request, "That item is not in your cart.")
    return redirect("cart")
