"""Reviews: who may write what, when; votes, folds, reward reports; the monthly shop credit.

Longer than 400 lines: one module per concept would split the review's single lock helper.

Every write is one function that locks the review (or the order line) and checks the rule
itself, so a page, the API and a test all meet the same refusal. Nothing here deletes a
review: there is no such function, and a database trigger refuses a DELETE from anyone.
Nothing here offers, tracks or pays anything for writing a review.
"""

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.http import Http404
from django.utils import timezone

from disputes.models import AfterSalesRequest
from marketplace.errors import ConflictError, DomainError
from orders.models import Order, OrderGroup, OrderLine
from referrals.services import email_normalized
from reviews import selectors
from reviews.models import (
    Review,
    ReviewModeration,
    ReviewPhoto,
    ReviewVote,
    RewardReport,
    ShopCreditHistory,
    VisitorSighting,
)
from shops.images import ImageRejected, image_intake, image_renditions
from shops.models import Shop

MAX_PHOTOS = 6
MAX_TEXT = 1000
RECEIVED = (Order.Status.RECEIVED, Order.Status.SETTLED)
NOT_DELETABLE = (
    "Reviews are never deleted, by anyone. Staff can fold a review with a visible reason; see the review policy."
)


class Forbidden(DomainError):
    status_code = 403
    code = "permission_denied"


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _score(value, *, field: str, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError(f"{label}: choose 1 to 5 stars.", field=field)
    if not 1 <= value <= 5:
        raise DomainError(f"{label}: choose 1 to 5 stars, not {value}.", field=field)
    return value


def _text(value, *, field: str = "text", label: str = "The review", required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise DomainError(f"{label} is empty: write something.", field=field)
    if len(value) > MAX_TEXT:
        raise DomainError(f"{label} is too long: {len(value):,} characters, at most {MAX_TEXT:,}.", field=field)
    return value


def photos_encode(photos) -> list:
    """Validate and re-encode uploads with the product photo pipeline, before any lock."""
    photos = list(photos or [])
    if len(photos) > MAX_PHOTOS:
        raise DomainError(f"Attach at most {MAX_PHOTOS} photos ({len(photos)} were sent).", field="photos")
    encoded = []
    for upload in photos:
        try:
            encoded.append(image_intake(upload))
        except ImageRejected as exc:
            raise DomainError(f"{getattr(upload, 'name', 'A photo')}: {exc.message}", field="photos") from None
    return encoded


# --- Who may review ---------------------------------------------------------------------


def line_refunded_in_full(line: OrderLine) -> bool:
    """A line is refunded in full when its after-sales refunds reach its total, or when the
    whole order was refunded (a chargeback, a full refund of every line)."""
    order = line.order
    if order.refunded_minor >= order.total_minor:
        return True
    refunded = AfterSalesRequest.objects.filter(line=line).aggregate(s=Sum("refunded_minor"))["s"] or 0
    return refunded >= line.total_minor


def _line_for_review(*, buyer, line_id: int) -> OrderLine:
    """The buyer's own line, locked. Another buyer's line is a 404: it is not revealed."""
    line = OrderLine.objects.select_for_update(of=("self",)).select_related("order").filter(pk=line_id).first()
    if line is None or line.order.buyer_id != buyer.pk:
        raise Http404("No such order line among your orders.")
    return line


def review_refusal(*, line: OrderLine, now: datetime) -> str | None:
    """Why this (the buyer's own) line cannot be reviewed now, or None."""
    order = line.order
    if order.status not in RECEIVED or order.received_at is None:
        return "You can review this item once you have confirmed you received it."
    if Review.objects.filter(line=line).exists():
        return "You have already reviewed this item. You can add one follow-up to your review."
    closes = order.received_at + timedelta(days=settings.REVIEWS_WINDOW_DAYS)
    if now > closes:
        days = settings.REVIEWS_WINDOW_DAYS
        return f"The time to review this item ended on {_when(closes)} ({days} days after receipt)."
    if line_refunded_in_full(line):
        return "This item was refunded in full, so it cannot be reviewed."
    return None


def _address_key(address: str, city: str) -> str:
    return "".join(ch for ch in f"{address}{city}".lower() if ch.isalnum())


def review_connection(*, buyer, shop: Shop, group: OrderGroup, visitor_id: str = "") -> str:
    """How the reviewer is tied to the shop ("" when not). Signals: the owner, an alias of the
    owner's email, a card fingerprint or a normalised shipping address the owner has used,
    or a visitor id (device) the owner has been seen with."""
    owner = shop.owner
    if buyer.pk == owner.pk:
        return Review.Connection.OWNER
    if email_normalized(buyer.email) == email_normalized(owner.email):
        return Review.Connection.ALIAS
    owner_groups = OrderGroup.objects.filter(buyer=owner)
    buyer_cards = set(
        OrderGroup.objects.filter(buyer=buyer).exclude(card_fingerprint="").values_list("card_fingerprint", flat=True)
    )
    if buyer_cards and owner_groups.filter(card_fingerprint__in=buyer_cards).exists():
        return Review.Connection.CARD
    owner_addresses = {_address_key(a, c) for a, c in owner_groups.values_list("ship_address", "ship_city")}
    if _address_key(group.ship_address, group.ship_city) in owner_addresses:
        return Review.Connection.ADDRESS
    buyer_visitors = set(VisitorSighting.objects.filter(user=buyer).values_list("visitor_id", flat=True))
    if visitor_id:
        buyer_visitors.add(visitor_id)
    if buyer_visitors and VisitorSighting.objects.filter(user=owner, visitor_id__in=buyer_visitors).exists():
        return Review.Connection.VISITOR
    return ""


def visitor_sighting_record(*, user, visitor_id: str) -> None:
    """Remember that this signed-in user carries this visitor cookie (once per pair)."""
    if not visitor_id or len(visitor_id) != 32 or not visitor_id.isalnum():
        return
    VisitorSighting.objects.bulk_create([VisitorSighting(user=user, visitor_id=visitor_id)], ignore_conflicts=True)


# --- Writing, editing, following up -------------------------------------------------------


def review_create(
    *,
    buyer,
    line_id: int,
    stars,
    score_described,
    score_service,
    score_shipping,
    text: str = "",
    is_name_masked: bool = False,
    photos=(),
    visitor_id: str = "",
) -> Review:
    stars = _score(stars, field="stars", label="The item")
    score_described = _score(score_described, field="score_described", label="Item as described")
    score_service = _score(score_service, field="score_service", label="Service")
    score_shipping = _score(score_shipping, field="score_shipping", label="Shipping speed")
    text = _text(text)
    encoded = photos_encode(photos)
    now = timezone.now()
    try:
        with transaction.atomic():
            line = _line_for_review(buyer=buyer, line_id=line_id)
            refusal = review_refusal(line=line, now=now)
            if refusal:
                raise ConflictError(refusal)
            order = line.order
            shop = Shop.objects.select_related("owner").get(pk=order.shop_id)
            review = Review.objects.create(
                line=line,
                order=order,
                product_id=line.product_id,
                shop=shop,
                buyer=buyer,
                stars=stars,
                score_described=score_described,
                score_service=score_service,
                score_shipping=score_shipping,
                text=text,
                is_name_masked=bool(is_name_masked),
                is_via_share=line.promoter_id is not None,
                connection=review_connection(
                    buyer=buyer, shop=shop, group=OrderGroup.objects.get(pk=order.group_id), visitor_id=visitor_id
                ),
                visitor_id=visitor_id if len(visitor_id or "") == 32 else "",
                received_at=order.received_at,
                created_at=now,
                photo_count=len(encoded),
            )
            _photos_save(review, encoded)
    except IntegrityError:
        # The one-review-per-line constraint, reached by a concurrent request.
        raise ConflictError("You have already reviewed this item.") from None
    return review


def _photos_save(review: Review, encoded: list) -> None:
    from reviews.tasks import review_photo_render_task

    for position, image in enumerate(encoded, start=1):
        photo = ReviewPhoto(review=review, position=position, width=image.width, height=image.height)
        photo.original.save(f"r{review.pk}.jpg", ContentFile(image.content), save=False)
        photo.save()
        transaction.on_commit(lambda pk=photo.pk: review_photo_render_task.delay(pk))


def review_photo_render(*, photo_id: int) -> ReviewPhoto | None:
    """Renditions of one review photo; a ready photo is left alone (safe to run twice)."""
    photo = ReviewPhoto.objects.filter(pk=photo_id).first()
    if photo is None or photo.status == ReviewPhoto.Status.READY:
        return photo
    with photo.original.open("rb") as fh:
        renditions = image_renditions(fh.read())
    names = {}
    for name, content in renditions.items():
        field = getattr(photo, name)
        names[name] = field.storage.save(
            field.field.generate_filename(photo, f"r{photo.review_id}-{name}.jpg"), ContentFile(content)
        )
    # Claim with a conditional UPDATE: a concurrent run that lost the race removes its files.
    if not ReviewPhoto.objects.filter(pk=photo_id, status=ReviewPhoto.Status.PENDING).update(
        status=ReviewPhoto.Status.READY, **names
    ):
        for name, stored in names.items():
            getattr(photo, name).storage.delete(stored)
    photo.refresh_from_db()
    return photo


def _lock(review_id: int) -> Review:
    review = Review.objects.select_for_update().filter(pk=review_id).first()
    if review is None:
        raise Http404("No such review.")
    return review


def review_edit(*, review_id: int, buyer, stars, score_described, score_service, score_shipping, text: str = ""):
    stars = _score(stars, field="stars", label="The item")
    score_described = _score(score_described, field="score_described", label="Item as described")
    score_service = _score(score_service, field="score_service", label="Service")
    score_shipping = _score(score_shipping, field="score_shipping", label="Shipping speed")
    text = _text(text)
    now = timezone.now()
    with transaction.atomic():
        review = _lock(review_id)
        if review.buyer_id != buyer.pk:
            raise Forbidden("Only the buyer who wrote this review can edit it.")
        if review.reply_at is not None:
            raise ConflictError("The shop has replied to this review, so it can no longer be edited.")
        until = review.created_at + timedelta(hours=settings.REVIEWS_EDIT_HOURS)
        if now > until:
            raise ConflictError(
                f"A review can be edited for {settings.REVIEWS_EDIT_HOURS} hours; "
                f"this one could be edited until {_when(until)}."
            )
        review.stars, review.text = stars, text
        review.score_described, review.score_service, review.score_shipping = (
            score_described,
            score_service,
            score_shipping,
        )
        review.edited_at = now
        review.save(update_fields=["stars", "text", "score_described", "score_service", "score_shipping", "edited_at"])
    return review


def review_follow_up(*, review_id: int, buyer, text: str) -> Review:
    text = _text(text, field="text", label="The follow-up", required=True)
    now = timezone.now()
    with transaction.atomic():
        review = _lock(review_id)
        if review.buyer_id != buyer.pk:
            raise Forbidden("Only the buyer who wrote this review can add a follow-up.")
        if review.followup_at is not None:
            raise ConflictError("You have already added a follow-up to this review; there is one per review.")
        until = review.received_at + timedelta(days=settings.REVIEWS_FOLLOWUP_DAYS)
        if now > until:
            raise ConflictError(
                f"A follow-up can be added up to {settings.REVIEWS_FOLLOWUP_DAYS} days after receipt; "
                f"for this item that was {_when(until)}."
            )
        review.followup_text, review.followup_at = text, now
        review.save(update_fields=["followup_text", "followup_at"])
    return review


def review_reply(*, review_id: int, merchant, text: str, to_follow_up: bool = False) -> Review:
    """The shop's one reply to the review, or (to_follow_up) its one reply to the follow-up."""
    text = _text(text, field="text", label="The reply", required=True)
    now = timezone.now()
    with transaction.atomic():
        review = _lock(review_id)
        if Shop.objects.filter(pk=review.shop_id).values_list("owner_id", flat=True).first() != merchant.pk:
            raise Forbidden("Only the shop that sold the item can reply to this review.")
        if to_follow_up:
            if review.followup_at is None:
                raise ConflictError("There is no follow-up to reply to yet.")
            if review.followup_reply_at is not None:
                raise ConflictError("You have already replied to this follow-up; there is one reply to each.")
            written = review.followup_at
        else:
            if review.reply_at is not None:
                raise ConflictError("You have already replied to this review; there is one reply to each.")
            written = review.created_at
        until = written + timedelta(days=settings.REVIEWS_REPLY_DAYS)
        if now > until:
            raise ConflictError(
                f"Replies are possible for {settings.REVIEWS_REPLY_DAYS} days; this one ended {_when(until)}."
            )
        if to_follow_up:
            review.followup_reply_text, review.followup_reply_at = text, now
            review.save(update_fields=["followup_reply_text", "followup_reply_at"])
        else:
            review.reply_text, review.reply_at = text, now
            review.save(update_fields=["reply_text", "reply_at"])
    return review


# --- Helpful votes ------------------------------------------------------------------------


def wilson_lower_bound(positive: int, total: int, z: float = 1.959964) -> float:
    """The lower end of the 95% Wilson score interval for positive/total (0 without votes):
    one 1/1 vote ranks below 45/50, unlike a plain ratio."""
    if total == 0:
        return 0.0
    p = positive / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt((p * (1 - p) + z * z / (4 * total)) / total)
    return (centre - spread) / (1 + z * z / total)


def review_vote(*, review_id: int, user, is_helpful: bool) -> Review:
    """One vote per signed-in user and review (a second one changes it); none on your own."""
    if not isinstance(is_helpful, bool):
        raise DomainError("Say whether the review was helpful: true or false.", field="is_helpful")
    with transaction.atomic():
        review = _lock(review_id)
        if review.buyer_id == user.pk:
            raise Forbidden("You cannot vote on your own review.")
        if Shop.objects.filter(pk=review.shop_id, owner=user).exists():
            raise Forbidden("A shop cannot vote on the reviews of its own products.")
        ReviewVote.objects.update_or_create(review=review, user=user, defaults={"is_helpful": is_helpful})
        votes = list(ReviewVote.objects.filter(review=review).values_list("is_helpful", flat=True))
        review.helpful_yes, review.helpful_total = sum(votes), len(votes)
        review.helpful_rank = wilson_lower_bound(review.helpful_yes, review.helpful_total)
        review.save(update_fields=["helpful_yes", "helpful_total", "helpful_rank"])
    return review


# --- Moderation: fold and unfold, never delete --------------------------------------------


def _require_staff(user) -> None:
    if not (user and user.is_authenticated and user.is_staff):
        raise Forbidden("Only Circle Market staff can fold or unfold reviews.")


def review_fold(*, review_id: int, staff, reason: str, note: str) -> Review:
    _require_staff(staff)
    if reason not in Review.FoldReason.values:
        raise DomainError("Choose a reason from the list.", field="reason")
    note = _text(note, field="note", label="The note", required=True)[:500]
    with transaction.atomic():
        review = _lock(review_id)
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
    note = _text(note, field="note", label="The note", required=True)[:500]
    with transaction.atomic():
        review = _lock(review_id)
        if not review.is_folded:
            raise ConflictError("This review is not folded.")
        review.is_folded, review.fold_reason = False, ""
        review.save(update_fields=["is_folded", "fold_reason"])
        ReviewModeration.objects.create(review=review, action=ReviewModeration.Action.UNFOLD, note=note, staff=staff)
    return review


def review_fold_under_review(*, review_id: int) -> bool:
    """A fraud rule or an open fraud case: left out of ratings, "under review", until staff
    decide (review_unfold clears it, review_fold replaces it). True if it was folded now."""
    with transaction.atomic():
        review = _lock(review_id)
        if review.is_folded:
            return False
        review.is_folded, review.fold_reason = True, Review.FoldReason.UNDER_REVIEW
        review.save(update_fields=["is_folded", "fold_reason"])
    return True


# --- Reports of rewards offered for reviews ------------------------------------------------


def reward_report_create(*, reporter, shop_id: int, description: str) -> RewardReport:
    description = _text(description, field="description", label="What happened", required=True)
    shop = Shop.objects.filter(pk=shop_id).first()
    if shop is None:
        raise Http404("No such shop.")
    if shop.owner_id == reporter.pk:
        raise DomainError("You cannot report your own shop.")
    return RewardReport.objects.create(shop=shop, reporter=reporter, description=description)


def reward_report_close(*, report_id: int, staff, confirmed: bool, note: str) -> RewardReport:
    _require_staff(staff)
    note = _text(note, field="note", label="The note", required=True)[:500]
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


# --- Shop credit: the monthly evaluation --------------------------------------------------


@dataclass(frozen=True)
class CreditRun:
    month: date
    written: int


CREDIT_WORK_MEM = "256MB"


def month_start(moment: datetime) -> date:
    return timezone.localtime(moment).date().replace(day=1)


def shop_credit_evaluate(*, month: date | None = None) -> CreditRun:
    """Evaluate every shop's level and badge for `month` (default: this month), as of its
    first day, in one set-based INSERT … SELECT. Rows of a month already evaluated are kept
    as they are (ON CONFLICT DO NOTHING): running it twice changes nothing, and the history
    stays what was published."""
    month = month or month_start(timezone.now())
    # The month is written by one statement, all shops or none: any row means it is done,
    # so the daily beat run (the sweeper for a lost monthly message) costs one query.
    if ShopCreditHistory.objects.filter(month=month).exists():
        return CreditRun(month=month, written=0)
    as_of = timezone.make_aware(datetime(month.year, month.month, 1))
    sql = selectors.credit_figures_sql(shop_filter=False)
    insert = f"""
        INSERT INTO reviews_shopcredithistory (shop_id, month, level, is_trusted, miss, rating_count,
            rating_x100, orders_3m, on_time_bps, disputes_lost_3m, completed_orders, created_at)
        SELECT shop_id, %(month)s, level, miss = '', miss, rating_count, rating_x100, orders_3m, on_time_bps,
               disputes_lost_3m, completed_orders, now()
          FROM ({sql}) figures
        ON CONFLICT (shop_id, month) DO NOTHING
    """  # noqa: S608 - the SQL is ours, built from constants; values are parameters
    with transaction.atomic(), connection.cursor() as cur:
        # One statement groups every review and order by shop. Hash tables of ~100k shops
        # outgrow the CPU caches (and, at 4 MB, spill to disk): measured at 100k shops the
        # hashed plan took 3.3 s, the same work grouped in shop order (reviews straight from
        # the review_rated_by_shop index, orders sorted) and merge-joined 1.6 s, and that
        # one grows with the data. JIT compiling costs more than it saves here.
        for setting in (
            f"work_mem = '{CREDIT_WORK_MEM}'",
            "enable_hashagg = off",
            "enable_hashjoin = off",
            "jit = off",
        ):
            cur.execute(f"SET LOCAL {setting}")
        cur.execute(insert, {**selectors.credit_params(as_of), "month": month})
        written = cur.rowcount
    return CreditRun(month=month, written=written)
