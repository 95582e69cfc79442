"""Reads of reviews, ratings and shop credit.

Longer than 400 lines: ratings, the credit figures (Python and SQL) and the lists belong together.

Ratings count the last 12 months of reviews that are not connected to the shop and not
folded as suspected manipulation (RATED). The monthly credit evaluation and the live trust
card read their figures from one SQL text (credit_figures_sql), so the card and the history
can never disagree about what "on time" or "lost" means.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import Avg, Case, Count, F, FloatField, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, When
from django.db.models import Value as V
from django.db.models.functions import Cast, Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from disputes.models import AfterSalesRequest, CaseEvent, Dispute
from orders.models import Order, OrderLine
from reviews.models import Review, ReviewPhoto, ShopCreditHistory
from shops.models import Product, Shop

RATING_DAYS = 365
CREDIT_DAYS = 90
# Folded "under review" (an open fraud case) is left out as manipulation is, until staff decide.
RATED = Q(connection="") & ~Q(fold_reason__in=[Review.FoldReason.MANIPULATION, Review.FoldReason.UNDER_REVIEW])
SORTS = {"newest": ("-created_at", "-id"), "helpful": ("-helpful_rank", "-created_at", "-id")}

# The published "trusted shop" criteria (the policy page prints them from here).
TRUSTED_MIN_ON_TIME_BPS = 9500
TRUSTED_MIN_RATING_X100 = 480
TRUSTED_MIN_ORDERS_3M = 5
TRUSTED_MAX_DISPUTES_LOST_BPS = 50
# Levels, highest first: (level, completed orders at least, rating × 100 at least).
LEVELS = ((5, 2000, 480), (4, 500, 470), (3, 100, 450), (2, 20, 400), (1, 1, 0))
LEVEL_NAMES = {0: "New shop", 1: "Level 1", 2: "Level 2", 3: "Level 3", 4: "Level 4", 5: "Level 5"}


def credit_level(*, completed: int, rating_count: int, rating_x100: int) -> int:
    """The level rule in Python; credit_figures_sql is generated from the same table."""
    for level, min_completed, min_rating in LEVELS:
        if completed >= min_completed and (min_rating == 0 or (rating_count and rating_x100 >= min_rating)):
            return level
    return 0


def _level_sql() -> str:
    whens = " ".join(
        f"WHEN completed_orders >= {c} AND {'TRUE' if r == 0 else f'rating_count > 0 AND rating_x100 >= {r}'} THEN {lv}"
        for lv, c, r in LEVELS
    )
    return f"CASE {whens} ELSE 0 END"


def credit_params(as_of: datetime) -> dict:
    return {
        "as_of": as_of,
        "rating_since": as_of - timedelta(days=RATING_DAYS),
        "credit_since": as_of - timedelta(days=CREDIT_DAYS),
        "manipulation": Review.FoldReason.MANIPULATION.value,
        "under_review": Review.FoldReason.UNDER_REVIEW.value,
        "buyer_won": [
            Dispute.Outcome.FULL_REFUND.value,
            Dispute.Outcome.PARTIAL_REFUND.value,
            Dispute.Outcome.CHARGEBACK_LOST.value,
        ],
    }


def credit_figures_sql(*, shop_filter: bool) -> str:
    """One row per shop (or the shop %(shop_id)s): its credit figures as of %(as_of)s, its
    level and the first badge criterion it misses (empty: trusted). Set-based: each source
    table is read once, grouped by shop."""
    only = "AND shop_id = %(shop_id)s" if shop_filter else ""
    shops_only = "AND s.id = %(shop_id)s" if shop_filter else ""
    return f"""
    SELECT f.*, {_level_sql()} AS level,
           CASE WHEN sanctioned THEN 'sanction'
                WHEN on_time_bps IS NOT NULL AND on_time_bps < {TRUSTED_MIN_ON_TIME_BPS} THEN 'late_shipping'
                WHEN orders_3m < {TRUSTED_MIN_ORDERS_3M} OR on_time_bps IS NULL THEN 'few_orders'
                WHEN rating_count = 0 OR rating_x100 < {TRUSTED_MIN_RATING_X100} THEN 'rating'
                WHEN disputes_lost_3m * 10000 > {TRUSTED_MAX_DISPUTES_LOST_BPS} * orders_3m THEN 'disputes'
                ELSE '' END AS miss
      FROM (
        SELECT s.id AS shop_id,
               coalesce(r.n, 0) AS rating_count,
               coalesce(r.stars * 100 / nullif(r.n, 0), 0) AS rating_x100,
               coalesce(o.orders_3m, 0) AS orders_3m,
               CASE WHEN coalesce(o.due, 0) > 0 THEN o.on_time * 10000 / o.due END AS on_time_bps,
               coalesce(d.lost, 0) AS disputes_lost_3m,
               coalesce(o.completed, 0) AS completed_orders,
               (x.shop_id IS NOT NULL) AS sanctioned
          FROM shops_shop s
          LEFT JOIN (
            SELECT shop_id, count(*) AS n, sum(stars) AS stars FROM reviews_review
             WHERE created_at >= %(rating_since)s AND created_at < %(as_of)s
               AND connection = '' AND fold_reason NOT IN (%(manipulation)s, %(under_review)s) {only}
             GROUP BY shop_id
          ) r ON r.shop_id = s.id
          LEFT JOIN (
            -- One pass over the shop's orders: the 3-month figures and the completed count.
            SELECT shop_id,
                   count(*) FILTER (WHERE recent AND status NOT IN ('cancelled', 'expired')) AS orders_3m,
                   count(*) FILTER (WHERE recent AND due) AS due,
                   count(*) FILTER (WHERE recent AND due AND shipped_at <= ship_by AND tracking_number <> '')
                       AS on_time,
                   count(*) FILTER (WHERE status IN ('received', 'settled') AND received_at < %(as_of)s)
                       AS completed
              FROM (
                SELECT shop_id, status, shipped_at, ship_by, tracking_number, received_at,
                       paid_at >= %(credit_since)s AND paid_at < %(as_of)s AS recent,
                       ((shipped_at IS NOT NULL AND shipped_at < %(as_of)s) OR ship_by < %(as_of)s)
                       AND NOT (shipped_at IS NULL AND cancelled_at IS NOT NULL AND cancelled_at < ship_by) AS due
                  FROM orders_order
                 WHERE paid_at < %(as_of)s {only}
              ) paid
             GROUP BY shop_id
          ) o ON o.shop_id = s.id
          LEFT JOIN (
            SELECT shop_id, count(*) AS lost FROM disputes_dispute
             WHERE outcome = ANY(%(buyer_won)s) AND ruled_at >= %(credit_since)s AND ruled_at < %(as_of)s {only}
             GROUP BY shop_id
          ) d ON d.shop_id = s.id
          LEFT JOIN (
            SELECT DISTINCT shop_id FROM disputes_sanction
             WHERE starts_at <= %(as_of)s AND ends_at > %(as_of)s
               AND (ended_at IS NULL OR ended_at > %(as_of)s) {only}
          ) x ON x.shop_id = s.id
         WHERE s.created_at < %(as_of)s {shops_only}
      ) f
    """  # noqa: S608 - built from constants only; every value is a parameter


def credit_figures(*, shop: Shop, as_of: datetime | None = None) -> dict:
    """The live figures of one shop (the same SQL as the monthly evaluation, as of now)."""
    as_of = as_of or timezone.now()
    with connection.cursor() as cur:
        cur.execute(credit_figures_sql(shop_filter=True), {**credit_params(as_of), "shop_id": shop.pk})
        row = cur.fetchone()
        if row is None:
            return {}
        return dict(zip([c.name for c in cur.description], row, strict=True))


# --- Ratings ------------------------------------------------------------------------------


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


def _since() -> datetime:
    return timezone.now() - timedelta(days=RATING_DAYS)


def rating_for_shop(*, shop_id: int) -> Rating:
    agg = Review.objects.filter(shop_id=shop_id, created_at__gte=_since()).aggregate(**_rating_aggregates("", Q()))
    return _rating_from(agg, "")


def rating_for_product_page(*, product: Product) -> tuple[Rating, Rating]:
    """The product's rating and its shop's, in one query over the shop's last 12 months."""
    agg = Review.objects.filter(shop_id=product.shop_id, created_at__gte=_since()).aggregate(
        **_rating_aggregates("p_", Q(product_id=product.pk)), **_rating_aggregates("s_", Q())
    )
    return _rating_from(agg, "p_"), _rating_from(agg, "s_")


def platform_mean() -> float:
    """Mean stars of every rated review in 12 months (the Bayesian prior), cached 10 minutes."""
    value = cache.get("reviews:platform-mean")
    if value is None:
        value = Review.objects.filter(RATED, created_at__gte=_since()).aggregate(m=Avg("stars"))["m"] or 0.0
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
    rated = Review.objects.filter(RATED, product=OuterRef("pk"), created_at__gte=_since()).values("product")
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


@dataclass
class TrustCard:
    shop: Shop
    rating: Rating
    figures: dict
    level: int
    is_trusted: bool
    scores: dict  # {"described": (shop, platform), ...}
    after_sales_per_100: float | None
    disputes_lost_per_100: float | None
    median_answer_hours: float | None
    history: list[str]
    sanctions: list

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES[self.level]

    @property
    def on_time_percent(self) -> float | None:
        bps = self.figures.get("on_time_bps")
        return None if bps is None else bps / 100


def _score_means(where: Q) -> dict:
    agg = Review.objects.filter(RATED, where, created_at__gte=_since()).aggregate(
        described=Avg("score_described"), service=Avg("score_service"), shipping=Avg("score_shipping")
    )
    return {k: (round(v, 2) if v is not None else None) for k, v in agg.items()}


def platform_scores() -> dict:
    value = cache.get("reviews:platform-scores")
    if value is None:
        value = _score_means(Q())
        cache.set("reviews:platform-scores", value, 600)
    return value


def _median_answer_hours(shop: Shop, since: datetime) -> float | None:
    """Median hours from an after-sales request to the shop's first action on it."""
    first = (
        CaseEvent.objects.filter(request=OuterRef("pk"), actor_id=shop.owner_id)
        .order_by("created_at")
        .values("created_at")[:1]
    )
    pairs = (
        AfterSalesRequest.objects.filter(shop=shop, created_at__gte=since)
        .annotate(answered_at=Subquery(first))
        .filter(answered_at__isnull=False)
        .values_list("created_at", "answered_at")
    )
    hours = sorted((answered - asked).total_seconds() / 3600 for asked, answered in pairs)
    if not hours:
        return None
    mid = len(hours) // 2
    return round(hours[mid] if len(hours) % 2 else (hours[mid - 1] + hours[mid]) / 2, 1)


def credit_history(*, shop: Shop) -> list[ShopCreditHistory]:
    return list(ShopCreditHistory.objects.filter(shop=shop).order_by("month"))


def credit_history_story(rows: list[ShopCreditHistory]) -> list[str]:
    """The public history in words: "Trusted shop since March 2026", "Lost the badge in May
    2026: late shipping", "Level 2 since …" — one line per change, oldest first."""
    lines, trusted, level = [], False, None
    for row in rows:
        month = row.month.strftime("%B %Y")
        if row.is_trusted and not trusted:
            lines.append(f"Trusted shop since {month}")
        elif trusted and not row.is_trusted:
            lines.append(f"Lost the trusted badge in {month}: {row.get_miss_display()}")
        if row.level != level:
            lines.append(f"{LEVEL_NAMES[row.level]} from {month}")
        trusted, level = row.is_trusted, row.level
    return lines


def trust_card(*, shop: Shop, sanctions: list) -> TrustCard:
    """The whole card for the shop page: live figures (they move with every order, review or
    dispute) and the level and badge of the last monthly evaluation, with its history."""
    figures = credit_figures(shop=shop)
    rows = credit_history(shop=shop)
    latest = rows[-1] if rows else None
    since = timezone.now() - timedelta(days=CREDIT_DAYS)
    orders = figures.get("orders_3m", 0)
    after_sales = AfterSalesRequest.objects.filter(shop=shop, created_at__gte=since).count()
    own, platform = _score_means(Q(shop=shop)), platform_scores()
    return TrustCard(
        shop=shop,
        rating=rating_for_shop(shop_id=shop.pk),
        figures=figures,
        level=latest.level if latest else 0,
        is_trusted=bool(latest and latest.is_trusted),
        scores={k: (own[k], platform[k]) for k in ("described", "service", "shipping")},
        after_sales_per_100=round(100 * after_sales / orders, 1) if orders else None,
        disputes_lost_per_100=round(100 * figures.get("disputes_lost_3m", 0) / orders, 1) if orders else None,
        median_answer_hours=_median_answer_hours(shop, since),
        history=credit_history_story(rows),
        sanctions=sanctions,
    )


def credit_latest(*, shop_id: int) -> ShopCreditHistory | None:
    return ShopCreditHistory.objects.filter(shop_id=shop_id).order_by("-month").first()


def trust_card_advice(card: TrustCard) -> list[str]:
    """For the merchant: what would raise each part of the card."""
    advice = []
    f = card.figures
    if f.get("sanctioned"):
        advice.append("A sanction is in force: no badge until it ends. See your public record for the reason.")
    if f.get("on_time_bps") is not None and f["on_time_bps"] < TRUSTED_MIN_ON_TIME_BPS:
        advice.append(
            f"Ship with a tracking number before the ship-by deadline: {f['on_time_bps'] / 100:.1f}% on time, "
            f"the badge needs {TRUSTED_MIN_ON_TIME_BPS / 100:.0f}%."
        )
    if f.get("orders_3m", 0) < TRUSTED_MIN_ORDERS_3M:
        advice.append(
            f"The badge needs at least {TRUSTED_MIN_ORDERS_3M} orders in 3 months; you have {f.get('orders_3m', 0)}."
        )
    if not card.rating.count or (f.get("rating_x100", 0) < TRUSTED_MIN_RATING_X100):
        advice.append(
            f"Rating: the badge needs {TRUSTED_MIN_RATING_X100 / 100:.1f}; answer reviews and fix what they point at."
        )
    if f.get("orders_3m") and f.get("disputes_lost_3m", 0) * 10000 > TRUSTED_MAX_DISPUTES_LOST_BPS * f["orders_3m"]:
        advice.append("Disputes lost: settle after-sales requests with the buyer before they become disputes.")
    if card.median_answer_hours is not None and card.median_answer_hours > 24:
        advice.append("Answer after-sales requests faster: the median is over a day.")
    next_level = next(((lv, c, r) for lv, c, r in reversed(LEVELS) if lv > card.level), None)
    if next_level:
        lv, c, r = next_level
        need = f"{c} completed orders" + (f" and a rating of {r / 100:.1f}" if r else "")
        advice.append(f"{LEVEL_NAMES[lv]} needs {need}; you have {f.get('completed_orders', 0)} completed orders.")
    return advice
