"""Reviews of received order lines, their photos, votes and moderation; shop credit history.

A review is never deleted (a database trigger refuses it, for staff too); staff fold one
with a reason from a fixed list, and every fold and unfold is a ReviewModeration row. The
merchant's replies and the buyer's one follow-up live on the review row itself: each is
written once, by a conditional update, so "once" holds under concurrent requests.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Review(models.Model):
    class Connection(models.TextChoices):
        OWNER = "owner", "The reviewer is the shop's owner"
        ALIAS = "alias", "The reviewer's email is an alias of the owner's"
        CARD = "card", "The reviewer paid with a card the owner uses"
        ADDRESS = "address", "The reviewer ships to the owner's address"
        VISITOR = "visitor", "The reviewer uses a device the owner uses"

    class FoldReason(models.TextChoices):
        PERSONAL_DATA = "personal_data", "Contains personal data"
        ABUSE = "abuse", "Abusive language"
        OFF_TOPIC = "off_topic", "Not about the item or the shop"
        MANIPULATION = "manipulation", "Suspected rating manipulation"
        # Left out of ratings while a fraud case about it is open (fraud app).
        UNDER_REVIEW = "under_review", "Under review"

    line = models.OneToOneField("orders.OrderLine", on_delete=models.PROTECT, related_name="review")
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey("shops.Product", on_delete=models.PROTECT, related_name="reviews")
    shop = models.ForeignKey("shops.Shop", on_delete=models.PROTECT, related_name="reviews")
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    stars = models.PositiveSmallIntegerField()
    score_described = models.PositiveSmallIntegerField()
    score_service = models.PositiveSmallIntegerField()
    score_shipping = models.PositiveSmallIntegerField()
    text = models.TextField(max_length=1000, blank=True)
    is_name_masked = models.BooleanField(default=False)
    # The line carried a promoter: bought through a sharer's link.
    is_via_share = models.BooleanField(default=False)
    # Non-empty: the reviewer is tied to the shop; shown, left out of every rating.
    connection = models.CharField(max_length=12, choices=Connection.choices, blank=True)
    # The reviewer's visitor cookie when reviewing, one of the "connected" signals.
    visitor_id = models.CharField(max_length=32, blank=True)
    # When the line was received: the review, follow-up windows count from it.
    received_at = models.DateTimeField()
    created_at = models.DateTimeField()
    edited_at = models.DateTimeField(null=True, blank=True)
    reply_text = models.TextField(max_length=1000, blank=True)
    reply_at = models.DateTimeField(null=True, blank=True)
    followup_text = models.TextField(max_length=1000, blank=True)
    followup_at = models.DateTimeField(null=True, blank=True)
    followup_reply_text = models.TextField(max_length=1000, blank=True)
    followup_reply_at = models.DateTimeField(null=True, blank=True)
    photo_count = models.PositiveSmallIntegerField(default=0)
    is_folded = models.BooleanField(default=False)
    fold_reason = models.CharField(max_length=20, choices=FoldReason.choices, blank=True)
    # Kept in step by review_vote; votes themselves are ReviewVote rows.
    helpful_yes = models.PositiveIntegerField(default=0)
    helpful_total = models.PositiveIntegerField(default=0)
    # Wilson lower bound (95%) of helpful_yes / helpful_total: "most helpful" sorts by it.
    helpful_rank = models.FloatField(default=0.0)

    class Meta:
        indexes = [
            models.Index(fields=["product", "-created_at"], name="review_product_recent"),
            models.Index(fields=["shop", "-created_at"], name="review_shop_recent"),
            # The credit evaluation's rating per shop, read from the index alone (rated reviews only).
            models.Index(
                fields=["shop", "created_at"],
                include=["stars"],
                condition=Q(connection="") & ~Q(fold_reason="manipulation"),
                name="review_rated_by_shop",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(stars__gte=1, stars__lte=5), name="review_stars_1_5"),
            models.CheckConstraint(
                condition=Q(score_described__gte=1, score_described__lte=5)
                & Q(score_service__gte=1, score_service__lte=5)
                & Q(score_shipping__gte=1, score_shipping__lte=5),
                name="review_scores_1_5",
            ),
            models.CheckConstraint(condition=Q(photo_count__lte=6), name="review_photos_max_6"),
            models.CheckConstraint(condition=Q(is_folded=False) | ~Q(fold_reason=""), name="review_folded_has_reason"),
        ]

    def __str__(self):
        return f"Review {self.pk} of {self.product_id}"

    @property
    def is_connected(self) -> bool:
        return bool(self.connection)

    @property
    def counts_in_rating(self) -> bool:
        return not self.connection and self.fold_reason != self.FoldReason.MANIPULATION

    @property
    def reviewer_name(self) -> str:
        name = self.buyer.public_name
        if self.is_name_masked:
            return f"{name[:1]}***"
        return name


class ReviewPhoto(models.Model):
    """A review photo, through the product photo pipeline (shops.images): validated by
    content, re-encoded without metadata, renditions made by Celery."""

    class Status(models.TextChoices):
        PENDING = "pending", "Processing"
        READY = "ready", "Ready"

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="photos")
    position = models.PositiveSmallIntegerField()
    original = models.ImageField(upload_to="reviews/originals/")
    thumb = models.ImageField(upload_to="reviews/thumb/", blank=True)
    card = models.ImageField(upload_to="reviews/card/", blank=True)
    full = models.ImageField(upload_to="reviews/full/", blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["review", "position"], name="review_photo_position_unique")]


class ReviewVote(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    is_helpful = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["review", "user"], name="review_vote_once")]


class ReviewModeration(models.Model):
    """A fold or unfold by staff: who, when, why. Append-only."""

    class Action(models.TextChoices):
        FOLD = "fold", "Folded"
        UNFOLD = "unfold", "Unfolded"

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="moderations")
    action = models.CharField(max_length=8, choices=Action.choices)
    reason = models.CharField(max_length=20, choices=Review.FoldReason.choices, blank=True)
    note = models.CharField(max_length=500)
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


class VisitorSighting(models.Model):
    """A signed-in user seen with a visitor cookie (the share links' anonymous id): how a
    review from a device the shop owner uses is recognised."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    visitor_id = models.CharField(max_length=32)
    seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["visitor_id", "user"], name="visitor_sighting_once")]


class RewardReport(models.Model):
    """A buyer's report that a shop offered something for a (good) review: a staff case."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CONFIRMED = "confirmed", "Confirmed"
        DISMISSED = "dismissed", "Dismissed"

    shop = models.ForeignKey("shops.Shop", on_delete=models.PROTECT, related_name="+")
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    description = models.TextField(max_length=2000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    handled_note = models.CharField(max_length=500, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class ShopCreditHistory(models.Model):
    """A shop's level and badge as evaluated for one month (the first day of it), with the
    figures they came from. Public; one row per shop and month, never rewritten."""

    class Miss(models.TextChoices):
        SANCTION = "sanction", "a sanction in force"
        LATE_SHIPPING = "late_shipping", "late shipping"
        RATING = "rating", "rating below the bar"
        FEW_ORDERS = "few_orders", "too few orders"
        DISPUTES = "disputes", "disputes lost"

    shop = models.ForeignKey("shops.Shop", on_delete=models.CASCADE, related_name="credit_history")
    month = models.DateField()
    level = models.PositiveSmallIntegerField()
    is_trusted = models.BooleanField()
    # The first published criterion the shop missed (empty when trusted).
    miss = models.CharField(max_length=16, choices=Miss.choices, blank=True)
    rating_count = models.PositiveIntegerField()
    # Mean stars × 100 (integer, so the row compares exactly); 0 without ratings.
    rating_x100 = models.PositiveIntegerField()
    orders_3m = models.PositiveIntegerField()
    # On-time shipping in basis points of the orders due to ship in the 3 months; null: none due.
    on_time_bps = models.PositiveIntegerField(null=True)
    disputes_lost_3m = models.PositiveIntegerField()
    completed_orders = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-month"]
        constraints = [models.UniqueConstraint(fields=["shop", "month"], name="credit_history_once_a_month")]
