"""Reads for after-sales pages, the API and the staff console. Every `*_for` read is scoped:
another person's id is a 404."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from disputes.models import AfterSalesRequest, CaseEvent, Dispute, Evidence, Message, Sanction
from orders.models import Order
from shops.models import Shop

Status = AfterSalesRequest.Status


def _requests() -> QuerySet[AfterSalesRequest]:
    return AfterSalesRequest.objects.select_related("order", "line", "shop", "buyer")


def after_sales_list_for_buyer(*, buyer) -> QuerySet[AfterSalesRequest]:
    return _requests().filter(buyer=buyer).order_by("-created_at", "-pk")


def after_sales_list_for_shop(*, shop: Shop, open_only: bool = False) -> QuerySet[AfterSalesRequest]:
    """The merchant's inbox: open requests first, the nearest deadline first."""
    queryset = _requests().filter(shop=shop)
    if open_only:
        queryset = queryset.filter(status__in=AfterSalesRequest.OPEN_STATUSES)
    # PostgreSQL sorts NULL last in ascending order: open requests have no closed_at.
    return queryset.order_by(F("closed_at").desc(nulls_first=True), F("deadline_at").asc(nulls_last=True), "-pk")


def after_sales_get_for(*, user, request_id: int) -> AfterSalesRequest:
    """The buyer, the shop's owner or staff; anyone else gets a 404."""
    if user is None or not user.is_authenticated:
        raise Http404
    queryset = _requests().prefetch_related(
        Prefetch("messages", queryset=Message.objects.select_related("author").prefetch_related("evidence")),
        Prefetch("events", queryset=CaseEvent.objects.select_related("actor")),
        "evidence",
    )
    if not user.is_staff:
        queryset = queryset.filter(Q(buyer=user) | Q(shop__owner=user))
    return get_object_or_404(queryset, pk=request_id)


def after_sales_role(*, user, request: AfterSalesRequest) -> str:
    if request.buyer_id == user.pk:
        return "buyer"
    if request.shop.owner_id == user.pk:
        return "merchant"
    return "staff"


def after_sales_open_for_order(*, order) -> list[AfterSalesRequest]:
    return list(AfterSalesRequest.objects.filter(order=order).order_by("-created_at"))


# What each side may do in each status, for the pages to offer; the services are the guard.
_ACTIONS = {
    "buyer": {
        "offer_accept": {Status.PROPOSED},
        "return_ship": {Status.RETURN_PENDING},
        "escalate": {Status.REJECTED, Status.PROPOSED, Status.RETURN_SHIPPED},
        "withdraw": {Status.OPEN, Status.PROPOSED, Status.REJECTED, Status.RETURN_PENDING},
    },
    "merchant": {
        "accept": {Status.OPEN},
        "propose": {Status.OPEN},
        "reject": {Status.OPEN},
        "return_receive": {Status.RETURN_SHIPPED},
        # The service also lets the shop escalate its own rejection or offer; only a
        # contested return is a case the shop needs to bring.
        "escalate": {Status.RETURN_SHIPPED},
    },
}


def after_sales_actions(*, request: AfterSalesRequest, role: str) -> set[str]:
    """The actions to offer `role` now; everyone on an open case may post a message."""
    actions = {name for name, statuses in _ACTIONS.get(role, {}).items() if request.status in statuses}
    if request.is_open:
        actions.add("message")
    return actions


def after_sales_order_lines(*, order) -> list[dict]:
    """Each line of a buyer's order with its open request, and whether a request may be
    opened on it now (shipped or received, inside the after-sales window)."""
    open_by_line = dict(
        AfterSalesRequest.objects.filter(order=order, status__in=AfterSalesRequest.OPEN_STATUSES).values_list(
            "line_id", "pk"
        )
    )
    window = order.status == Order.Status.SHIPPED or (
        order.status == Order.Status.RECEIVED
        and (order.after_sales_ends_at is None or order.after_sales_ends_at > timezone.now())
    )
    return [
        {"line": line, "open_request_id": open_by_line.get(line.pk), "can_open": window and line.pk not in open_by_line}
        for line in order.lines.all()
    ]


def evidence_get_for(*, user, evidence_id: int) -> Evidence:
    if user is None or not user.is_authenticated:
        raise Http404
    queryset = Evidence.objects.select_related("request__shop")
    if not user.is_staff:
        queryset = queryset.filter(Q(request__buyer=user) | Q(request__shop__owner=user))
    return get_object_or_404(queryset, pk=evidence_id)


def dispute_queue(*, include_closed: bool = False) -> QuerySet[Dispute]:
    """The staff queue: open disputes, the nearest decision date first."""
    queryset = Dispute.objects.select_related("order", "shop", "request__buyer")
    if not include_closed:
        queryset = queryset.filter(status=Dispute.Status.OPEN)
    return queryset.order_by("decide_by", "pk")


def dispute_get(*, dispute_id: int) -> Dispute:
    return get_object_or_404(
        Dispute.objects.select_related(
            "order__group", "shop__owner", "request__buyer", "request__line"
        ).prefetch_related(Prefetch("events", queryset=CaseEvent.objects.select_related("actor"))),
        pk=dispute_id,
    )


def sanctions_in_force(*, shop: Shop) -> list[Sanction]:
    now = timezone.now()
    return list(Sanction.objects.filter(shop=shop, ended_at__isnull=True, starts_at__lte=now, ends_at__gt=now))


def sanction_history(*, shop: Shop) -> list[Sanction]:
    return list(Sanction.objects.filter(shop=shop).order_by("-starts_at", "-pk"))


def sanction_suggestions() -> list[dict]:
    """Shops that lost at least the configured number of disputes in the window and have no
    sanction in force: the console suggests one (the admin decides)."""
    since = timezone.now() - timedelta(days=settings.MARKETPLACE_SANCTION_SUGGEST_DAYS)
    lost = (
        Dispute.objects.filter(
            ruled_at__gte=since,
            outcome__in=[
                Dispute.Outcome.FULL_REFUND,
                Dispute.Outcome.PARTIAL_REFUND,
                Dispute.Outcome.CHARGEBACK_LOST,
            ],
        )  # fmt: skip
        .values("shop_id")
        .annotate(lost=Count("pk"))
        .filter(lost__gte=settings.MARKETPLACE_SANCTION_SUGGEST_LOSSES)
    )
    counts = {row["shop_id"]: row["lost"] for row in lost}
    sanctioned = set(
        Sanction.objects.filter(shop_id__in=counts, ended_at__isnull=True, ends_at__gt=timezone.now()).values_list(
            "shop_id", flat=True
        )
    )
    shops = Shop.objects.filter(pk__in=set(counts) - sanctioned).order_by("name")
    return [{"shop": shop, "lost": counts[shop.pk]} for shop in shops]
