"""Read models for promoters and merchants: per-link figures, earnings over time, top promoters."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
from payments.split import line_commission_sql
from referrals.models import Share

# A line's (`l`) commission as its order (`o`) stands after refunds: payments.split's rule.
_LINE_COMMISSION_SQL = line_commission_sql(
    base="l.commission_base_minor",
    kept="o.total_minor - o.refunded_minor",
    total="o.total_minor",
    bps="l.commission_bps",
)


@dataclass
class ShareFigures:
    share: Share
    clicks: int
    orders: int
    refunded_orders: int
    commission_minor: int

    @property
    def conversion_pct(self) -> float:
        return round(100 * self.orders / self.clicks, 1) if self.clicks else 0.0

    @property
    def refund_rate_pct(self) -> float:
        return round(100 * self.refunded_orders / self.orders, 1) if self.orders else 0.0


def promoter_shares(*, promoter) -> list[ShareFigures]:
    """Every share of `promoter` with clicks, paid orders, refunded orders and commission
    earned, in two queries whatever the number of links."""
    shares = list(
        Share.objects.filter(promoter=promoter).select_related("product", "shop").order_by("-created_at", "-pk")
    )
    if not shares:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT s.id,
                   (SELECT count(*) FROM referrals_click c WHERE c.share_id = s.id),
                   count(DISTINCT o.id) FILTER (WHERE o.paid_at IS NOT NULL),
                   count(DISTINCT o.id) FILTER (WHERE o.refunded_minor > 0),
                   coalesce(sum({_LINE_COMMISSION_SQL}) FILTER (WHERE o.paid_at IS NOT NULL), 0)
              FROM referrals_share s
              LEFT JOIN orders_orderline l ON l.share_id = s.id AND l.promoter_id = s.promoter_id
              LEFT JOIN orders_order o ON o.id = l.order_id
             WHERE s.promoter_id = %s
             GROUP BY s.id
            """,  # noqa: S608 - payments.split's SQL, a constant
            [promoter.pk],
        )
        figures = {row[0]: row[1:] for row in cursor.fetchall()}
    return [ShareFigures(share, *figures.get(share.pk, (0, 0, 0, 0))) for share in shares]


@dataclass
class EarningsWeek:
    week: date
    amount_minor: int
    # The bar in a 10-unit-wide, 100-high SVG slot.
    x: int = 0
    height_pct: int = 0

    @property
    def y(self) -> int:
        return 100 - self.height_pct


def promoter_earnings_by_week(*, promoter, weeks: int = 12) -> list[EarningsWeek]:
    """Commission that became available each week (settled orders), oldest first."""
    today = timezone.localdate()
    first = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    weekly = (
        LedgerEntry.objects.filter(
            account__kind=LedgerAccount.Kind.PROMOTER_AVAILABLE,
            account__user=promoter,
            transaction__kind=LedgerTransaction.Kind.SETTLEMENT,
            created_at__gte=timezone.make_aware(datetime.combine(first, time.min)),
        )
        .annotate(week=TruncWeek("created_at"))
        .values_list("week")
        .annotate(amount=Sum("amount_minor"))
        .order_by()
    )
    # TruncWeek answers the Monday's midnight in the current time zone.
    by_week = {timezone.localtime(week).date(): amount for week, amount in weekly}
    rows = [EarningsWeek(first + timedelta(weeks=i), by_week.get(first + timedelta(weeks=i), 0)) for i in range(weeks)]
    top = max((row.amount_minor for row in rows), default=0)
    for i, row in enumerate(rows):
        row.x = i * 10 + 1
        row.height_pct = round(100 * row.amount_minor / top) if top else 0
    return rows


@dataclass
class TopPromoter:
    name: str
    orders: int
    sales_minor: int
    commission_minor: int


def shop_top_promoters(*, shop, limit: int = 20) -> list[TopPromoter]:
    """Who brings this shop paid, unrefunded sales, by sales."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT coalesce(nullif(u.display_name, ''), split_part(u.email, '@', 1)),
                   count(DISTINCT o.id),
                   sum(l.total_minor * (o.total_minor - o.refunded_minor) / o.total_minor),
                   sum({_LINE_COMMISSION_SQL})
              FROM orders_orderline l
              JOIN orders_order o ON o.id = l.order_id
              JOIN accounts_user u ON u.id = l.promoter_id
             WHERE o.shop_id = %s AND o.paid_at IS NOT NULL AND o.status NOT IN ('cancelled', 'expired')
             GROUP BY u.id
             ORDER BY 3 DESC, u.id
             LIMIT %s
            """,  # noqa: S608 - payments.split's SQL, a constant
            [shop.pk, limit],
        )
        return [TopPromoter(*row) for row in cursor.fetchall()]
