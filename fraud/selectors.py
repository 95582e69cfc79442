"""Fraud reads: the staff queue, a case with its evidence and its picture."""

import math

from django.db.models import QuerySet

from accounts.models import User
from fraud.models import Case
from orders.models import OrderLine
from payments.models import CommissionHold
from reviews.models import Review


def case_queue(*, include_closed: bool = False) -> QuerySet[Case]:
    """Newest first, then highest score."""
    cases = Case.objects.all() if include_closed else Case.objects.filter(status=Case.Status.OPEN)
    return cases.order_by("-created_at", "-score")


def case_get(*, case_id: int) -> Case:
    return Case.objects.prefetch_related("links").get(pk=case_id)


def case_evidence(*, case: Case) -> dict:
    members = list(User.objects.filter(pk__in=case.members.values("pk")).order_by("pk"))
    lines = list(
        OrderLine.objects.filter(pk__in=case.line_ids).select_related("order__shop", "order__buyer").order_by("pk")
    )
    holds = {h.line_id: h for h in CommissionHold.objects.filter(line_id__in=case.line_ids).order_by("pk")}
    return {
        "members": members,
        "lines": [(line, holds.get(line.pk)) for line in lines],
        "reviews": list(Review.objects.filter(pk__in=case.review_ids).order_by("pk")),
        "picture": case_picture(members=members, lines=lines),
    }


def case_picture(*, members: list, lines: list, size: int = 240) -> dict:
    """The ring as a small SVG: members on a circle, one edge per buyer → seller or
    promoter pair (its width grows with the number of purchases)."""
    centre, radius = size / 2, size / 2 - 24
    at = {}
    for i, user in enumerate(members):
        angle = 2 * math.pi * i / max(len(members), 1) - math.pi / 2
        at[user.pk] = (round(centre + radius * math.cos(angle), 1), round(centre + radius * math.sin(angle), 1))
    pairs: dict[tuple[int, int], int] = {}
    for line in lines:
        for other in (line.order.shop.owner_id, line.promoter_id):
            if other in at and other != line.order.buyer_id:
                key = (line.order.buyer_id, other)
                pairs[key] = pairs.get(key, 0) + 1
    edges = [(*at[a], *at[b], min(1 + n, 6)) for (a, b), n in pairs.items()]
    nodes = [(x, y, pk) for pk, (x, y) in at.items()]
    return {"size": size, "nodes": nodes, "edges": edges}
