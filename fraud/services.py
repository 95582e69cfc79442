"""Fraud writes: signals recorded where they happen, the real-time rules at payment, and
the staff decisions on a case. A rule never refuses a sale: it holds the line's
commission (payments.services.commission_holds) with its reason."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from fraud.models import Case, RuleHit, Signal
from fraud.signals import NORMALIZERS, address_normalize, identifier_hash
from marketplace.errors import ConflictError, DomainError
from orders.models import OrderGroup, OrderLine
from payments.models import CommissionHold
from payments.services import commission_holds
from payments.services.payouts import payout_hold_place
from reviews import services as review_services
from reviews.models import Review, VisitorSighting
from reviews.services import Forbidden

Category = CommissionHold.Category


def signals_record(*, user_id: int, values: dict[str, str], at=None) -> None:
    """Link the account to each identifier (kind → raw value), first and last seen."""
    now = at or timezone.now()
    rows = []
    for kind, raw in values.items():
        normal = NORMALIZERS.get(kind, str)(raw or "")
        digest = identifier_hash(kind, normal)
        if digest:
            rows.append(Signal(user_id=user_id, kind=kind, value=digest, first_seen_at=now, last_seen_at=now))
    if rows:
        Signal.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["kind", "value", "user"], update_fields=["last_seen_at"]
        )


def _group_signals_record(group: OrderGroup, card_fingerprint: str) -> None:
    buyer = group.buyer
    values = {
        "card": card_fingerprint,
        "address": address_normalize(group.ship_address, group.ship_city),
        "phone": group.ship_phone,
        "email": buyer.email,
        "payout": buyer.stripe_account_id,
    }
    signals_record(user_id=buyer.pk, values=values)
    # Devices the buyer was seen on (the reviews app records the visitor cookie per user).
    for visitor in VisitorSighting.objects.filter(user=buyer).values_list("visitor_id", flat=True)[:20]:
        signals_record(user_id=buyer.pk, values={"visitor": visitor})


def _shared_identifiers(user_a: int, user_b: int) -> list[str]:
    """The strong identifiers both accounts carry, ignoring those of crowds (a café's
    network, a shop's tablet): each kind once."""
    limit = settings.FRAUD_SHARED_IDENTIFIER_MAX
    mine = Signal.objects.filter(user_id=user_a, kind__in=[*Signal.STRONG, "phone", "email"])
    shared = (
        Signal.objects.filter(
            user_id=user_b,
            kind__in=[*Signal.STRONG, "phone", "email"],
            value__in=mine.values("value"),
        )  # fmt: skip
        .values_list("kind", "value")
        .distinct()
    )
    kinds = []
    for kind, value in shared:
        if Signal.objects.filter(kind=kind, value=value).count() <= limit and kind not in kinds:
            kinds.append(kind)
    return kinds


def _hold(line: OrderLine, rule: str, category: str, reason: str) -> None:
    RuleHit.objects.create(rule=rule, user_id=line.order.buyer_id, line=line, reason=reason)
    commission_holds.commission_hold_place(line=line, category=category, reason=f"{rule}: {reason}")


def payment_screen(*, group_id: int, card_fingerprint: str, lines: list) -> None:
    """At payment (a payments capture screen): record the buyer's identifiers, then run
    the rules on each line that carries a commission."""
    group = OrderGroup.objects.select_related("buyer").get(pk=group_id)
    _group_signals_record(group, card_fingerprint)
    buyer = group.buyer
    now = timezone.now()
    for line in lines:
        if not line.promoter_id or not line.commission_bps:
            continue
        shared = _shared_identifiers(buyer.pk, line.promoter_id)
        if shared:
            _hold(line, RuleHit.Rule.SAME_PERSON, Category.SAME_PERSON,
                  f"buyer {buyer.pk} and promoter {line.promoter_id} share: {', '.join(sorted(shared))}")  # fmt: skip
            continue
        minutes = settings.FRAUD_NEW_ACCOUNT_MINUTES
        if minutes and buyer.date_joined >= now - timedelta(minutes=minutes):
            _hold(line, RuleHit.Rule.NEW_ACCOUNT, Category.UNUSUAL_BUYING,
                  f"buyer {buyer.pk} joined less than {minutes} minutes before buying through a link")  # fmt: skip
            continue
        repeats = OrderLine.objects.filter(
            order__buyer=buyer, product_id=line.product_id, promoter_id=line.promoter_id,
            order__group__paid_at__isnull=False,
        ).count()  # fmt: skip
        if repeats >= settings.FRAUD_REPEAT_ITEM_PROMOTER:
            _hold(line, RuleHit.Rule.REPEAT_ITEM, Category.UNUSUAL_BUYING,
                  f"buyer {buyer.pk} bought product {line.product_id} through promoter {line.promoter_id} "
                  f"{repeats} times")  # fmt: skip
            continue
        burst = _device_burst(buyer.pk, now)
        if burst:
            _hold(line, RuleHit.Rule.DEVICE_BURST, Category.UNUSUAL_BUYING, burst)


def _device_burst(buyer_id: int, now) -> str:
    """Referred purchases in the last day by every account on one of the buyer's devices
    or networks, beyond the setting: the reason, or empty."""
    limit = settings.FRAUD_DEVICE_DAILY_REFERRED
    devices = Signal.objects.filter(user_id=buyer_id, kind__in=[Signal.Kind.VISITOR, Signal.Kind.IP])
    for kind, value in devices.values_list("kind", "value"):
        accounts = Signal.objects.filter(kind=kind, value=value).values("user_id")
        referred = (
            OrderLine.objects.filter(
                order__buyer_id__in=accounts, promoter__isnull=False, order__group__paid_at__gte=now - timedelta(days=1)
            )
            .values("order_id")
            .distinct()
            .count()
        )
        if referred > limit:
            return f"{referred} referred orders in a day from one {Signal.Kind(kind).label.lower()} (limit {limit})"
    return ""


# --- Staff decisions -----------------------------------------------------------------------


def _require_staff(user) -> None:
    if not (user and user.is_authenticated and user.is_staff):
        raise Forbidden("Only Circle Market staff can decide fraud cases.")


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say why: the reason is recorded with the decision.", field="reason")
    return reason[:500]


def _lock_open(case_id: int) -> Case:
    case = Case.objects.select_for_update().get(pk=case_id)
    if case.status != Case.Status.OPEN:
        raise ConflictError(f"This case is {case.get_status_display().lower()} already.")
    return case


def _decide(case: Case, status: str, staff, reason: str) -> None:
    case.status, case.decided_by, case.decision_reason, case.decided_at = status, staff, reason, timezone.now()
    case.save(update_fields=["status", "decided_by", "decision_reason", "decided_at"])


def _case_holds(case: Case):
    return CommissionHold.objects.filter(line_id__in=case.line_ids, status=CommissionHold.Status.HELD)


def _case_reviews(case: Case):
    return Review.objects.filter(pk__in=case.review_ids)


def case_clear(*, case_id: int, staff, reason: str) -> Case:
    """Not fraud: release the holds (the next payout pays them) and unfold the reviews."""
    _require_staff(staff)
    reason = _reason(reason)
    with transaction.atomic():
        case = _lock_open(case_id)
        for hold_id in _case_holds(case).values_list("pk", flat=True):
            commission_holds.commission_hold_release(hold_id=hold_id, reason=f"case {case.pk} cleared: {reason}")
        for review in _case_reviews(case).filter(fold_reason=Review.FoldReason.UNDER_REVIEW, is_folded=True):
            review_services.review_unfold(review_id=review.pk, staff=staff, note=f"Fraud case cleared: {reason}")
        _decide(case, Case.Status.CLEARED, staff, reason)
    return case


def case_confirm(
    *, case_id: int, staff, reason: str, suspend_promoter_payouts: bool = False, sanction_shop_ids=()
) -> Case:
    """Fraud: void the held commissions through the ledger, fold the reviews for good
    (rating manipulation, visible), and optionally stop the members' payouts."""
    _require_staff(staff)
    reason = _reason(reason)
    with transaction.atomic():
        case = _lock_open(case_id)
        for hold_id in _case_holds(case).values_list("pk", flat=True):
            commission_holds.commission_hold_void(hold_id=hold_id, reason=f"case {case.pk} confirmed: {reason}")
        for review in _case_reviews(case):
            if review.is_folded:
                review_services.review_unfold(review_id=review.pk, staff=staff, note="Refolded: fraud confirmed")
            review_services.review_fold(
                review_id=review.pk, staff=staff, reason=Review.FoldReason.MANIPULATION,
                note=f"Fraud case {case.pk} confirmed: {reason}",
            )  # fmt: skip
        if suspend_promoter_payouts:
            promoters = set(OrderLine.objects.filter(pk__in=case.line_ids).values_list("promoter_id", flat=True)) - {
                None
            }
            for user in User.objects.filter(pk__in=promoters):
                payout_hold_place(reason=f"Fraud case {case.pk} confirmed", user=user, by=staff)
        _decide(case, Case.Status.CONFIRMED, staff, reason)
    return case


def case_split(*, case_id: int, staff, reason: str, member_ids: list[int]) -> list[Case]:
    """The case mixes two rings: it closes as split, and each part opens as its own case
    with the evidence that involves only its members."""
    _require_staff(staff)
    reason = _reason(reason)
    with transaction.atomic():
        case = _lock_open(case_id)
        all_ids = set(case.members.values_list("pk", flat=True))
        part = set(member_ids) & all_ids
        if not part or part == all_ids:
            raise DomainError("Choose some of the case's members, not none or all.", field="member_ids")
        _decide(case, Case.Status.SPLIT, staff, reason)
        parts = []
        for members in (part, all_ids - part):
            lines = list(
                OrderLine.objects.filter(pk__in=case.line_ids, order__buyer_id__in=members).values_list(
                    "pk", "order_id"
                )
            )
            new = Case.objects.create(
                score=case.score, members_key=",".join(map(str, sorted(members))),
                order_ids=sorted({o for _, o in lines}), line_ids=sorted(pk for pk, _ in lines),
                review_ids=list(_case_reviews(case).filter(buyer_id__in=members).values_list("pk", flat=True)),
            )  # fmt: skip
            new.members.set(members)
            new.links.bulk_create(
                [type(link)(case=new, kind=link.kind, value=link.value, accounts=link.accounts)
                 for link in case.links.all()]
            )  # fmt: skip
            parts.append(new)
    return parts
