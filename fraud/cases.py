"""Rings become cases. While a case is open its members' commissions on the ring's lines
are held and their reviews of the ring's orders are folded "under review"."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q

from fraud.models import Case, CaseLink
from fraud.scan import Ring, rings_find
from orders.models import OrderLine
from payments.models import CommissionHold
from payments.services import commission_holds
from reviews import services as review_services
from reviews.models import Review


@dataclass
class ScanResult:
    rings: list[Ring]
    opened: list[Case]

    @property
    def flagged(self) -> list[int]:
        return sorted({a for ring in self.rings for a in ring.members})


def _evidence(members: list[int]) -> tuple[list[int], list[int], list[int]]:
    """(order ids, line ids, review ids): members buying from members' shops or through
    members' links."""
    lines = list(
        OrderLine.objects.filter(order__buyer_id__in=members, order__group__paid_at__isnull=False)
        .filter(Q(order__shop__owner_id__in=members) | Q(promoter_id__in=members))
        .values_list("pk", "order_id")
    )
    line_ids = sorted(pk for pk, _ in lines)
    reviews = Review.objects.filter(line_id__in=line_ids).values_list("pk", flat=True)
    return sorted({o for _, o in lines}), line_ids, sorted(reviews)


def case_open(*, ring: Ring) -> Case | None:
    """Open a case for the ring unless it has one: an open or decided case of the same
    members stands, and a cleared one comes back only with orders it did not see."""
    key = ",".join(map(str, ring.members))
    order_ids, line_ids, review_ids = _evidence(ring.members)
    if not order_ids:
        return None
    earlier = Case.objects.filter(members_key=key).exclude(status=Case.Status.SPLIT)
    if earlier.exclude(status=Case.Status.CLEARED).exists():
        return None
    seen = {o for case in earlier for o in case.order_ids}
    if seen and set(order_ids) <= seen:
        return None
    try:
        with transaction.atomic():
            case = Case.objects.create(
                score=ring.score, members_key=key, order_ids=order_ids, line_ids=line_ids, review_ids=review_ids
            )
            case.members.set(ring.members)
            CaseLink.objects.bulk_create([CaseLink(case=case, kind=k, value=v, accounts=n) for k, v, n in ring.links])
            for line in OrderLine.objects.filter(pk__in=line_ids).select_related("order"):
                commission_holds.commission_hold_place(
                    line=line, category=CommissionHold.Category.LINKED_ACCOUNTS,
                    reason=f"fraud case {case.pk}: {len(ring.members)} linked accounts, score {ring.score}",
                )  # fmt: skip
            for review_id in review_ids:
                review_services.review_fold_under_review(review_id=review_id)
    except IntegrityError:
        # A concurrent scan opened it first.
        return None
    return case


def fraud_scan() -> ScanResult:
    """The nightly scan: find the rings, open a case for each new one, void the confirmed
    holds whose orders have settled since."""
    rings = rings_find()
    opened = [case for ring in rings if (case := case_open(ring=ring)) is not None]
    commission_holds.commission_holds_void_settled()
    return ScanResult(rings=rings, opened=opened)
