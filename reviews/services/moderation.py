"""Moderation: staff fold and unfold reviews (never delete them), each action recorded with
who and why; buyers report shops that offered a reward for a review."""

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from marketplace.errors import ConflictError, DomainError
from reviews.models import (
    Review,
    ReviewModeration,
    RewardReport,
)
from reviews.services.reviews import Forbidden, lock_review, text_clean
from shops.models import Shop


def _require_staff(user) -> None:
    if not (user and user.is_authenticated and user.is_staff):
        raise Forbidden("Only Circle Market staff can fold or unfold reviews.")


def review_fold(*, review_id: int, staff, reason: str, note: str) -> Review:
    _require_staff(staff)
    if reason not in Review.FoldReason.values:
        raise DomainError("Choose a reason from the list.", field="reason")
    note = text_clean(note, field="note", label="The note", required=True)[:500]
    with transaction.atomic():
        review = lock_review(review_id)
        if review.is_folded:
            raise ConflictError("This review is already folded.")
        review.is_folded, review.fold_reason = True, reason
        review.save(update_fields=["is_folded", "fold_reason"])
        ReviewModeration.objects.create(
            review=review, action=ReviewModeration.Action.FOLD, reason=reason, note=note, staff=staff
        )
    return review


def review_unfold(*, review_id: int, staff, note: str) -> Review:
    _require_staff(staff)
    note = text_clean(note, field="note", label="The note", required=True)[:500]
    with transaction.atomic():
        review = lock_review(review_id)
        if not review.is_folded:
            raise ConflictError("This review is not folded.")
        review.is_folded, review.fold_reason = False, ""
        review.save(update_fields=["is_folded", "fold_reason"])
        ReviewModeration.objects.create(review=review, action=ReviewModeration.Action.UNFOLD, note=note, staff=staff)
    return review


# --- Reports of rewards offered for reviews ------------------------------------------------


def reward_report_create(*, reporter, shop_id: int, description: str) -> RewardReport:
    description = text_clean(description, field="description", label="What happened", required=True)
    shop = Shop.objects.filter(pk=shop_id).first()
    if shop is None:
        raise Http404("No such shop.")
    if shop.owner_id == reporter.pk:
        raise DomainError("You cannot report your own shop.")
    return RewardReport.objects.create(shop=shop, reporter=reporter, description=description)


def reward_report_close(*, report_id: int, staff, confirmed: bool, note: str) -> RewardReport:
    _require_staff(staff)
    note = text_clean(note, field="note", label="The note", required=True)[:500]
    with transaction.atomic():
        report = RewardReport.objects.select_for_update().filter(pk=report_id).first()
        if report is None:
            raise Http404("No such report.")
        if report.status != RewardReport.Status.OPEN:
            raise ConflictError("This report was already handled.")
        report.status = RewardReport.Status.CONFIRMED if confirmed else RewardReport.Status.DISMISSED
        report.handled_by, report.handled_note, report.handled_at = staff, note, timezone.now()
        report.save()
    return report


def review_fold_under_review(*, review_id: int) -> bool:
    """A fraud rule or an open fraud case: left out of ratings, "under review", until staff
    decide (review_unfold clears it, review_fold replaces it). True if it was folded now."""
    with transaction.atomic():
        review = lock_review(review_id)
        if review.is_folded:
            return False
        review.is_folded, review.fold_reason = True, Review.FoldReason.UNDER_REVIEW
        review.save(update_fields=["is_folded", "fold_reason"])
    return True
