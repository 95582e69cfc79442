"""Sharing pages: create a share, the /r/<code> landing, QR code, poster, commission plan."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.errors import DomainError
from marketplace.web import VISITOR_COOKIE, merchant_required
from payments import stripe_client
from payments.models import CommissionHold, Payout
from payments.selectors import promoter_balances
from payments.services import payout_account_connect as connect
from referrals import poster, selectors, services
from referrals.models import Share
from shops.models import Product, Shop


def _share_url(request, share: Share) -> str:
    return request.build_absolute_uri(reverse("share_landing", args=[share.code]))


def _share_page(request, *, product=None, shop=None):
    if request.method == "GET":
        target = product or shop
        return render(request, "referrals/share_start.html", {"product": product, "shop": shop, "target": target})
    try:
        share = services.share_create(promoter=request.user, product=product, shop=shop)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(product.get_absolute_url() if product else shop.get_absolute_url())
    return redirect("share_detail", code=share.code)


@login_required
@require_http_methods(["GET", "POST"])
def share_product(request, product_id: int):
    product = get_object_or_404(Product.objects.select_related("shop"), pk=product_id, status="active")
    return _share_page(request, product=product)


@login_required
@require_http_methods(["GET", "POST"])
def share_shop(request, slug: str):
    return _share_page(request, shop=get_object_or_404(Shop, slug=slug))


@login_required
def share_detail(request, code: str):
    share = get_object_or_404(Share.objects.select_related("product__shop", "shop"), code=code, promoter=request.user)
    url = _share_url(request, share)
    name = share.product.title if share.product else share.shop.name
    text = f"{name} — {url} (I earn a commission if you buy through this link.)"
    return render(request, "referrals/share.html", {"share": share, "url": url, "share_text": text, "name": name})


def _share_or_404(code: str) -> Share:
    if not code.isalnum() or len(code) > 16:
        raise Http404("Unknown share code")
    return get_object_or_404(Share.objects.select_related("promoter", "product__shop", "shop"), code=code)


def landing_click(request, share: Share) -> tuple[str, bool]:
    """A share link opened: record the click for this visitor. Returns (visitor id, counted)."""
    visitor_id = request.COOKIES.get(VISITOR_COOKIE, "")
    if len(visitor_id) != 32 or not visitor_id.isalnum():
        visitor_id = uuid.uuid4().hex
    counted = services.click_record(
        share=share,
        visitor_id=visitor_id,
        ip=request.META.get("REMOTE_ADDR", ""),
        user_agent=request.headers.get("User-Agent", ""),
    )
    return visitor_id, counted


def visitor_cookie_set(request, response, visitor_id: str) -> None:
    response.set_cookie(
        VISITOR_COOKIE, visitor_id, max_age=365 * 86400, httponly=True, samesite="Lax", secure=request.is_secure()
    )


@require_GET
def share_landing(request, code: str):
    share = _share_or_404(code)
    visitor_id, _ = landing_click(request, share)
    target = share.product.get_absolute_url() if share.product else share.shop.get_absolute_url()
    messages.info(
        request,
        f"{share.promoter.public_name} shared this with you and earns a commission if you buy. You pay the same price.",
    )
    response = redirect(target)
    visitor_cookie_set(request, response, visitor_id)
    return response


@require_GET
@cache_control(max_age=86400)
def share_qr(request, code: str):
    share = _share_or_404(code)
    return HttpResponse(poster.qr_svg(_share_url(request, share)), content_type="image/svg+xml")


@require_GET
def share_poster(request, code: str):
    share = _share_or_404(code)
    product = share.product
    photo_file = None
    if product is not None and product.cover_photo and product.cover_photo.status == "ready":
        photo_file = product.cover_photo.card.open("rb")
    try:
        image = poster.poster_render(
            url=_share_url(request, share),
            title=product.title if product else share.shop.name,
            price_minor=product.price_minor if product else 0,
            shop_name=product.shop.name if product else share.shop.name,
            promoter_name=share.promoter.public_name,
            photo=photo_file,
        )
    finally:
        if photo_file is not None:
            photo_file.close()
    response = HttpResponse(image, content_type="image/jpeg")
    response["Content-Disposition"] = f'attachment; filename="circle-share-{share.code}.jpg"'
    return response


@require_GET
def commission_plan(request):
    return render(
        request,
        "referrals/commission_plan.html",
        {
            "min_pct": settings.MARKETPLACE_COMMISSION_MIN_BPS / 100,
            "max_pct": settings.MARKETPLACE_COMMISSION_MAX_BPS / 100,
            "window_days": settings.MARKETPLACE_ATTRIBUTION_DAYS,
            "after_sales_days": settings.MARKETPLACE_AFTER_SALES_DAYS,
            "auto_confirm_days": settings.MARKETPLACE_AUTO_CONFIRM_DAYS,
            "payout_minimum": settings.MARKETPLACE_PAYOUT_MINIMUM_MINOR,
        },
    )


@login_required
@require_GET
def promoter_centre(request):
    return render(
        request,
        "referrals/promoter_centre.html",
        {
            "shares": selectors.promoter_shares(promoter=request.user),
            "balances": promoter_balances(user=request.user),
            "weeks": selectors.promoter_earnings_by_week(promoter=request.user),
            "payouts": Payout.objects.filter(user=request.user).order_by("-created_at", "-pk")[:20],
            "payout_minimum": settings.MARKETPLACE_PAYOUT_MINIMUM_MINOR,
            # Status and category only: the evidence stays with staff.
            "commission_holds": CommissionHold.objects.filter(promoter=request.user).order_by("-created_at")[:50],
        },
    )


@login_required
@require_POST
def payout_account_connect(request):
    """Set up the Stripe Connect account that receives payouts (a shop's, or the person's)."""
    shop = getattr(request.user, "shop", None) if request.POST.get("for") == "shop" else None
    try:
        connect(shop=shop, user=None if shop else request.user)
    except stripe_client.StripeFailure as exc:
        messages.error(request, exc.user_message)
    else:
        messages.success(request, "Your payout account is set up; payouts go to it from the next run.")
    return redirect("merchant_earnings" if shop else "promoter_centre")


@merchant_required
@require_GET
def merchant_top_promoters(request):
    return render(
        request,
        "referrals/merchant_top_promoters.html",
        {"shop": request.shop, "promoters": selectors.shop_top_promoters(shop=request.shop)},
    )
