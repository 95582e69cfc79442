"""Reads of shop credit: the figures, levels and badge, the trust card and its history.

The monthly credit evaluation and the live trust card read their figures from one SQL text
(credit_figures_sql), so the card and the history can never disagree about what "on time"
or "lost" means.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Avg, OuterRef, Q, Subquery
from django.utils import timezone

from disputes.models import AfterSalesRequest, CaseEvent, Dispute
from reviews.models import Review, ShopCreditHistory
from reviews.selectors.reviews import RATED, RATING_DAYS, Rating, rating_for_shop, rating_since
from shops.models import Shop

CREDIT_DAYS = 90

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
    agg = Review.objects.filter(RATED, where, created_at__gte=rating_since()).aggregate(
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
