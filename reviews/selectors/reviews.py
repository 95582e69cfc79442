"""Reads of reviews and ratings.

Ratings count the last 12 months of reviews that are not connected to the shop and not
folded as suspected manipulation (RATED).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db.models import Avg, Case, Count, F, FloatField, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, When
from django.db.models import Value as V
from django.db.models.functions import Cast, Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from disputes.models import AfterSalesRequest
from orders.models import Order, OrderLine
from reviews.models import Review, ReviewPhoto
from shops.models import Product, Shop

RATING_DAYS = 365
# Folded "under review" (an open fraud case) is left out as manipulation is, until staff decide.
RATED = Q(connection="") & ~Q(fold_reason__in=[Review.FoldReason.MANIPULATION, Review.FoldReason.UNDER_REVIEW])
SORTS = {"newest": ("-created_at", "-id"), "helpful": ("-helpful_rank", "-created_at", "-id")}


@dataclass
class Rating:
    count: int = 0
    total: int = 0
    histogram: dict[int, int] = field(default_factory=lambda: dict.fromkeys((5, 4, 3, 2, 1), 0))
    connected: int = 0
    manipulation: int = 0

    @property
    def mean(self) -> float | None:
        return round(self.total / self.count, 2) if self.count else None

    @property
    def excluded(self) -> int:
        return self.connected + self.manipulation

    @property
    def bars(self) -> list[tuple[int, int, int]]:
        """(stars, count, percent of all) from 5 down to 1, for the histogram."""
        return [(s, n, round(100 * n / self.count) if self.count else 0) for s, n in self.histogram.items()]


def _rating_aggregates(prefix: str, where: Q) -> dict:
    rated = where & RATED
    out = {
        f"{prefix}count": Count("id", filter=rated),
        f"{prefix}total": Sum("stars", filter=rated),
        f"{prefix}connected": Count("id", filter=where & ~Q(connection="")),
        f"{prefix}manipulation": Count(
            "id", filter=where & Q(connection="", fold_reason=Review.FoldReason.MANIPULATION)
        ),
    }
    for stars in range(1, 6):
        out[f"{prefix}h{stars}"] = Count("id", filter=rated & Q(stars=stars))
    return out


def _rating_from(agg: dict, prefix: str) -> Rating:
    return Rating(
        count=agg[f"{prefix}count"],
        total=agg[f"{prefix}total"] or 0,
        histogram={s: agg[f"{prefix}h{s}"] for s in (5, 4, 3, 2, 1)},
        connected=agg[f"{prefix}connected"],
        manipulation=agg[f"{prefix}manipulation"],
    )


def rating_since() -> datetime:
    return timezone.now() - timedelta(days=RATING_DAYS)


def rating_for_shop(*, shop_id: int) -> Rating:
    agg = Review.objects.filter(shop_id=shop_id, created_at__gte=rating_since()).aggregate(
        **_rating_aggregates("", Q())
    )
    return _rating_from(agg, "")


def rating_for_product_page(*, product: Product) -> tuple[Rating, Rating]:
    """The product's rating and its shop's, in one query over the shop's last 12 months."""
    agg = Review.objects.filter(shop_id=product.shop_id, created_at__gte=rating_since()).aggregate(
        **_rating_aggregates("p_", Q(product_id=product.pk)), **_rating_aggregates("s_", Q())
    )
    return _rating_from(agg, "p_"), _rating_from(agg, "s_")


def platform_mean() -> float:
    """Mean stars of every rated review in 12 months (the Bayesian prior), cached 10 minutes."""
    value = cache.get("reviews:platform-mean")
    if value is None:
        value = Review.objects.filter(RATED, created_at__gte=rating_since()).aggregate(m=Avg("stars"))["m"] or 0.0
        cache.set("reviews:platform-mean", value, 600)
    return value


def bayesian_score(*, total: int, count: int, prior: float, weight: int) -> float:
    """(weight × prior + sum of stars) / (weight + count): a few reviews move a product
    only a little away from the platform mean, many move it all the way."""
    return (weight * prior + total) / (weight + count) if weight + count else 0.0


def products_order_best_rated(queryset: QuerySet[Product]) -> QuerySet[Product]:
    """Order a product queryset by the Bayesian average of its rated reviews (12 months)."""
    prior = platform_mean()
    weight = settings.REVIEWS_BAYES_WEIGHT
    rated = Review.objects.filter(RATED, product=OuterRef("pk"), created_at__gte=rating_since()).values("product")
    count = Coalesce(Subquery(rated.annotate(n=Count("id")).values("n")), 0)
    total = Coalesce(Subquery(rated.annotate(t=Sum("stars")).values("t")), 0)
    return queryset.annotate(
        rating_count=count,
        rating_total=total,
        bayes_score=(V(weight * prior) + Cast(F("rating_total"), FloatField()))
        / Cast(V(weight) + F("rating_count"), FloatField()),
    ).order_by(F("bayes_score").desc(nulls_last=True), "-id")


# --- Lists --------------------------------------------------------------------------------


def _photo_paths(column: str):
    # Until its renditions exist a photo shows its re-encoded original (already metadata-free).
    path = Case(When(status=ReviewPhoto.Status.READY, then=F(column)), default=F("original"))
    return ArraySubquery(ReviewPhoto.objects.filter(review=OuterRef("pk")).order_by("position").values_list(path))


def review_list(
    *,
    product_id: int | None = None,
    shop_id: int | None = None,
    with_photos: bool = False,
    with_followups: bool = False,
    sort: str = "newest",
) -> QuerySet[Review]:
    """Reviews of a product or a shop, with their photos' paths, in one query."""
    qs = Review.objects.select_related("buyer", "product").annotate(
        photo_thumbs=_photo_paths("thumb"), photo_fulls=_photo_paths("full")
    )
    if product_id is not None:
        qs = qs.filter(product_id=product_id)
    if shop_id is not None:
        qs = qs.filter(shop_id=shop_id)
    if with_photos:
        qs = qs.filter(photo_count__gt=0)
    if with_followups:
        qs = qs.filter(followup_at__isnull=False)
    return qs.order_by(*SORTS.get(sort, SORTS["newest"]))


def with_photo_urls(reviews) -> list[Review]:
    """Turn the annotated photo paths into (thumb, full) URL pairs for the templates."""
    out = list(reviews)
    for review in out:
        review.photo_urls = [
            (default_storage.url(t), default_storage.url(f))
            for t, f in zip(review.photo_thumbs or [], review.photo_fulls or [], strict=False)
        ]
    return out


def review_get(*, review_id: int) -> Review:
    return get_object_or_404(review_list(), pk=review_id)


def reviewable_lines(*, buyer) -> QuerySet[OrderLine]:
    """The buyer's received lines that may be reviewed now: within the window, not reviewed,
    not refunded in full."""
    since = timezone.now() - timedelta(days=settings.REVIEWS_WINDOW_DAYS)
    refunded = (
        AfterSalesRequest.objects.filter(line=OuterRef("pk"))
        .values("line")
        .annotate(s=Sum("refunded_minor"))
        .values("s")
    )
    return (
        OrderLine.objects.filter(
            order__buyer=buyer,
            order__status__in=[Order.Status.RECEIVED, Order.Status.SETTLED],
            order__received_at__gte=since,
            review__isnull=True,
        )
        .exclude(order__refunded_minor__gte=F("order__total_minor"))
        .annotate(refunded=Coalesce(Subquery(refunded, output_field=IntegerField()), 0))
        .filter(refunded__lt=F("total_minor"))
        .select_related("order", "order__shop", "product")
        .order_by("-order__received_at", "-id")
    )


def merchant_review_list(*, shop: Shop, only_unanswered: bool = False) -> QuerySet[Review]:
    qs = review_list(shop_id=shop.pk)
    if only_unanswered:
        qs = qs.filter(Q(reply_at__isnull=True) | Q(followup_at__isnull=False, followup_reply_at__isnull=True))
    return qs


def merchant_review_get(*, shop: Shop, review_id: int) -> Review:
    """Another shop's review is a 404."""
    return get_object_or_404(review_list(shop_id=shop.pk), pk=review_id)


def review_get_for_buyer(*, buyer, review_id: int) -> Review:
    return get_object_or_404(review_list().filter(buyer=buyer), pk=review_id)


# --- The trust card -----------------------------------------------------------------------
