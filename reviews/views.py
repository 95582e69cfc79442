"""Review pages: write, edit, follow up, reply, vote, fold; lists; the merchant inbox and
trust card; the public review policy; reward reports and their staff queue.

Longer than 400 lines: one view per operation, and the review pages share their helpers.

A refused action re-renders its page with the reason and a 4xx status (400 bad input, 403
not yours, 409 not allowed now); another buyer's line or another shop's review is a 404.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from disputes import selectors as dispute_selectors
from disputes.views import staff_required
from marketplace.errors import DomainError
from orders.models import OrderLine
from referrals.views import VISITOR_COOKIE
from reviews import selectors, services
from reviews.forms import (
    FoldForm,
    FollowUpForm,
    ReplyForm,
    ReportCloseForm,
    ReviewEditForm,
    ReviewForm,
    RewardReportForm,
    UnfoldForm,
)
from reviews.models import Review, RewardReport
from shops import selectors as shop_selectors
from shops.merchant_views import merchant_required
from shops.models import Shop


def _status(exc: DomainError) -> int:
    return exc.status_code if 400 <= exc.status_code < 500 else 400


def _apply(form, exc: DomainError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _visitor(request) -> str:
    return request.COOKIES.get(VISITOR_COOKIE, "")


def _sighted(request) -> None:
    if request.user.is_authenticated:
        services.visitor_sighting_record(user=request.user, visitor_id=_visitor(request))


# --- Public -------------------------------------------------------------------------------


@require_GET
def review_policy(request):
    return render(
        request,
        "reviews/policy.html",
        {
            "window_days": settings.REVIEWS_WINDOW_DAYS,
            "followup_days": settings.REVIEWS_FOLLOWUP_DAYS,
            "reply_days": settings.REVIEWS_REPLY_DAYS,
            "edit_hours": settings.REVIEWS_EDIT_HOURS,
            "fold_reasons": Review.FoldReason.choices,
            "trusted": {
                "on_time": selectors.TRUSTED_MIN_ON_TIME_BPS / 100,
                "rating": selectors.TRUSTED_MIN_RATING_X100 / 100,
                "orders": selectors.TRUSTED_MIN_ORDERS_3M,
                "disputes": selectors.TRUSTED_MAX_DISPUTES_LOST_BPS / 100,
            },
            "levels": [(selectors.LEVEL_NAMES[lv], c, r / 100) for lv, c, r in reversed(selectors.LEVELS)],
        },
    )


def _list_params(request) -> dict:
    sort = request.GET.get("sort", "newest")
    return {
        "with_photos": request.GET.get("photos") == "1",
        "with_followups": request.GET.get("followups") == "1",
        "sort": sort if sort in selectors.SORTS else "newest",
    }


@require_GET
def product_reviews(request, product_id: int):
    product = shop_selectors.product_get_public(product_id=product_id)
    params = _list_params(request)
    rating, _ = selectors.rating_for_product_page(product=product)
    reviews = selectors.with_photo_urls(selectors.review_list(product_id=product.pk, **params)[:100])
    return render(
        request,
        "reviews/review_list.html",
        {"subject": product, "rating": rating, "reviews": reviews, "params": params, "base": request.path},
    )


@require_GET
def shop_reviews(request, slug: str):
    shop = get_object_or_404(Shop, slug=slug)
    params = _list_params(request)
    reviews = selectors.with_photo_urls(selectors.review_list(shop_id=shop.pk, **params)[:100])
    return render(
        request,
        "reviews/review_list.html",
        {
            "subject": shop,
            "rating": selectors.rating_for_shop(shop_id=shop.pk),
            "reviews": reviews,
            "params": params,
            "base": request.path,
        },
    )


def _review_context(request, review: Review, **forms) -> dict:
    user = request.user
    role = "guest"
    if user.is_authenticated:
        if user.pk == review.buyer_id:
            role = "buyer"
        elif user.pk == review.shop.owner_id:
            role = "merchant"
        elif user.is_staff:
            role = "staff"
        else:
            role = "member"
    context = {
        "review": selectors.with_photo_urls([review])[0],
        "role": role,
        "is_staff": user.is_authenticated and user.is_staff,
    }
    # A refused form is shown again with its reason, even when the action is no longer open.
    if "followup_form" in forms or (role == "buyer" and review.followup_at is None):
        context["followup_form"] = forms.get("followup_form") or FollowUpForm()
    if "reply_form" in forms:
        context["reply_form"] = forms["reply_form"]
    elif role == "merchant":
        if review.reply_at is None:
            context["reply_form"] = ReplyForm()
        elif review.followup_at is not None and review.followup_reply_at is None:
            context["reply_form"] = ReplyForm(initial={"to_follow_up": True})
    if context["is_staff"]:
        context["fold_form"] = forms.get("fold_form") or (UnfoldForm() if review.is_folded else FoldForm())
        context["moderations"] = list(review.moderations.select_related("staff"))
    return context


def _review(review_id: int) -> Review:
    review = selectors.review_get(review_id=review_id)
    review.shop = Shop.objects.get(pk=review.shop_id)
    return review


@require_GET
def review_detail(request, review_id: int):
    return render(request, "reviews/review_detail.html", _review_context(request, _review(review_id)))


# --- Buyer --------------------------------------------------------------------------------


@login_required
@require_GET
def my_reviews(request):
    _sighted(request)
    return render(
        request,
        "reviews/my_reviews.html",
        {
            "lines": list(selectors.reviewable_lines(buyer=request.user)[:100]),
            "window_days": settings.REVIEWS_WINDOW_DAYS,
            "reviews": selectors.with_photo_urls(selectors.review_list().filter(buyer=request.user)[:100]),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def review_new(request, line_id: int):
    line = get_object_or_404(OrderLine.objects.select_related("order", "order__shop"), pk=line_id)
    if line.order.buyer_id != request.user.pk:
        raise Http404
    _sighted(request)
    form = ReviewForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                review = services.review_create(
                    buyer=request.user, line_id=line.pk, visitor_id=_visitor(request), **form.cleaned_data
                )
            except DomainError as exc:
                _apply(form, exc)
                status = _status(exc)
            else:
                messages.success(request, "Thank you: your review is published.")
                return redirect("review_detail", review_id=review.pk)
        else:
            status = 400
    refusal = services.review_refusal(line=line, now=timezone.now())
    return render(request, "reviews/review_new.html", {"line": line, "form": form, "refusal": refusal}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def review_edit(request, review_id: int):
    review = selectors.review_get_for_buyer(buyer=request.user, review_id=review_id)
    initial = {k: getattr(review, k) for k in ("stars", "score_described", "score_service", "score_shipping", "text")}
    form = ReviewEditForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.review_edit(review_id=review.pk, buyer=request.user, **form.cleaned_data)
            except DomainError as exc:
                _apply(form, exc)
                status = _status(exc)
            else:
                messages.success(request, "Your review was updated.")
                return redirect("review_detail", review_id=review.pk)
        else:
            status = 400
    return render(request, "reviews/review_edit.html", {"review": review, "form": form}, status=status)


def _act(request, review_id: int, form_name: str, form, action, success: str):
    """Run one action posted from the review page; on refusal, show the page with the reason."""
    if form.is_valid():
        try:
            action(form.cleaned_data)
        except DomainError as exc:
            _apply(form, exc)
            status = _status(exc)
        else:
            messages.success(request, success)
            return redirect("review_detail", review_id=review_id)
    else:
        status = 400
    review = _review(review_id)
    return render(
        request, "reviews/review_detail.html", _review_context(request, review, **{form_name: form}), status=status
    )


@login_required
@require_POST
def review_follow_up(request, review_id: int):
    return _act(
        request,
        review_id,
        "followup_form",
        FollowUpForm(request.POST),
        lambda data: services.review_follow_up(review_id=review_id, buyer=request.user, text=data["text"]),
        "Your follow-up is published.",
    )


@login_required
@require_POST
def review_reply(request, review_id: int):
    shop = Shop.objects.filter(owner=request.user).first()
    if shop is None:
        raise Http404
    selectors.merchant_review_get(shop=shop, review_id=review_id)
    _sighted(request)
    return _act(
        request,
        review_id,
        "reply_form",
        ReplyForm(request.POST),
        lambda data: services.review_reply(
            review_id=review_id, merchant=request.user, text=data["text"], to_follow_up=data["to_follow_up"]
        ),
        "Your reply is published.",
    )


@login_required
@require_POST
def review_vote(request, review_id: int):
    get_object_or_404(Review, pk=review_id)
    try:
        services.review_vote(review_id=review_id, user=request.user, is_helpful=request.POST.get("helpful") == "1")
    except DomainError as exc:
        messages.error(request, exc.message)
        return render(
            request, "reviews/review_detail.html", _review_context(request, _review(review_id)), status=_status(exc)
        )
    messages.success(request, "Thanks for your vote.")
    return redirect("review_detail", review_id=review_id)


@require_http_methods(["POST", "DELETE"])
def review_delete(request, review_id: int):
    """There is no deleting a review; this answers anyone who tries, staff included."""
    get_object_or_404(Review, pk=review_id)
    messages.error(request, services.NOT_DELETABLE)
    return render(request, "reviews/review_detail.html", _review_context(request, _review(review_id)), status=405)


@login_required
@require_http_methods(["GET", "POST"])
def reward_report(request, slug: str):
    shop = get_object_or_404(Shop, slug=slug)
    form = RewardReportForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.reward_report_create(reporter=request.user, shop_id=shop.pk, **form.cleaned_data)
            except DomainError as exc:
                _apply(form, exc)
                status = _status(exc)
            else:
                messages.success(request, "Thank you. Circle Market staff will look into it.")
                return redirect("shop_detail", slug=shop.slug)
        else:
            status = 400
    return render(request, "reviews/reward_report.html", {"shop": shop, "form": form}, status=status)


# --- Merchant -----------------------------------------------------------------------------


@merchant_required
@require_GET
def merchant_reviews(request):
    _sighted(request)
    only = request.GET.get("unanswered") == "1"
    reviews = selectors.with_photo_urls(selectors.merchant_review_list(shop=request.shop, only_unanswered=only)[:200])
    return render(request, "reviews/merchant_reviews.html", {"reviews": reviews, "only_unanswered": only})


@merchant_required
@require_GET
def merchant_trust(request):
    _sighted(request)
    sanctions = dispute_selectors.sanctions_in_force(shop=request.shop)
    card = selectors.trust_card(shop=request.shop, sanctions=sanctions)
    return render(
        request,
        "reviews/merchant_trust.html",
        {"shop": request.shop, "card": card, "advice": selectors.trust_card_advice(card)},
    )


# --- Staff --------------------------------------------------------------------------------


@staff_required
@require_POST
def staff_review_fold(request, review_id: int):
    return _act(
        request,
        review_id,
        "fold_form",
        FoldForm(request.POST),
        lambda data: services.review_fold(review_id=review_id, staff=request.user, **data),
        "The review is folded; its reason is shown to everyone.",
    )


@staff_required
@require_POST
def staff_review_unfold(request, review_id: int):
    return _act(
        request,
        review_id,
        "fold_form",
        UnfoldForm(request.POST),
        lambda data: services.review_unfold(review_id=review_id, staff=request.user, **data),
        "The review is unfolded.",
    )


@staff_required
@require_GET
def staff_reward_reports(request):
    reports = list(RewardReport.objects.select_related("shop", "reporter", "handled_by")[:200])
    return render(request, "reviews/staff_reports.html", {"reports": reports, "form": ReportCloseForm()})


@staff_required
@require_POST
def staff_reward_report_close(request, report_id: int):
    form = ReportCloseForm(request.POST)
    if form.is_valid():
        try:
            services.reward_report_close(report_id=report_id, staff=request.user, **form.cleaned_data)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "The report is closed.")
    else:
        messages.error(request, "Write a note for the record.")
    return redirect("staff_reward_reports")
