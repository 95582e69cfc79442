"""Read models for promoters and merchants: per-link figures, earnings over time, top promoters."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import BigIntegerField, Count, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from orders.models import Order, OrderLine
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
from payments.split import line_commission_expression
from referrals.models import Click, Share

# A line's commission as its order stands after refunds: payments.split's rule.
_LINE_COMMISSION = line_commission_expression(
    base=F("commission_base_minor"),
    kept=F("order__total_minor") - F("order__refunded_minor"),
    total=F("order__total_minor"),
    bps=F("commission_bps"),
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
    clicks = Click.objects.filter(share=OuterRef("pk")).order_by().values("share").annotate(n=Count("pk")).values("n")
    shares = list(
        Share.objects.filter(promoter=promoter)
        .select_related("product", "shop")
        .annotate(click_count=Coalesce(Subquery(clicks), Value(0)))
        .order_by("-created_at", "-pk")
    )
    if not shares:
        return []
    paid = Q(order__paid_at__isnull=False)
    figures = {
        row["share_id"]: (row["orders"], row["refunded_orders"], row["commission"])
        for row in OrderLine.objects.filter(share_id__in=[share.pk for share in shares], promoter=promoter)
        .values("share_id")
        .annotate(
            orders=Count("order", distinct=True, filter=paid),
            refunded_orders=Count("order", distinct=True, filter=Q(order__refunded_minor__gt=0)),
            commission=Coalesce(Sum(_LINE_COMMISSION, filter=paid), Value(0), output_field=BigIntegerField()),
        )
        .order_by()
    }
    return [ShareFigures(share, share.click_count, *figures.get(share.pk, (0, 0, 0))) for share in shares]


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
    kept = F("order__total_minor") - F("order__refunded_minor")
    rows = (
        OrderLine.objects.filter(order__shop=shop, order__paid_at__isnull=False, promoter__isnull=False)
        .exclude(order__status__in=[Order.Status.CANCELLED, Order.Status.EXPIRED])
        .values("promoter_id", "promoter__display_name", "promoter__email")
        .annotate(
            orders=Count("order", distinct=True),
            sales=Sum(F("total_minor") * kept / F("order__total_minor")),
            commission=Sum(_LINE_COMMISSION),
        )
        .order_by("-sales", "promoter_id")[:limit]
    )
    return [
        TopPromoter(
            row["promoter__display_name"] or row["promoter__email"].split("@")[0],
            row["orders"],
            row["sales"],
            row["commission"],
        )
        for row in rows
    ]
