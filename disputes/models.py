"""After-sales requests, disputes, their timelines, messages and evidence, and sanctions.

While a request or dispute is open its order is held (payments.services.order_hold): the
payment stays in escrow, commissions are frozen and the order's timers wait.
"""

import uuid

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models import Q


def _evidence_storage():
    # Outside MEDIA_ROOT: evidence is served only through a view that checks who asks.
    return FileSystemStorage(location=settings.PRIVATE_MEDIA_ROOT, base_url=None)


def _evidence_path(instance, filename):
    return f"evidence/{uuid.uuid4().hex}.jpg"


class AfterSalesRequest(models.Model):
    class Kind(models.TextChoices):
        REFUND_ONLY = "refund_only", "Refund only (not received)"
        RETURN_REFUND = "return_refund", "Return and refund"
        PARTIAL_REFUND = "partial_refund", "Partial refund (damaged or not as described)"

    class Reason(models.TextChoices):
        NOT_RECEIVED = "not_received", "Not received"
        NOT_SHIPPED = "not_shipped", "Never shipped (tracking shows nothing)"
        DAMAGED = "damaged", "Arrived damaged"
        NOT_AS_DESCRIBED = "not_as_described", "Not as described"
        COUNTERFEIT = "counterfeit", "Counterfeit or fake"
        WRONG_ITEM = "wrong_item", "Wrong item"
        NO_REASON = "no_reason", "Changed my mind (no-reason return)"

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for the shop"
        PROPOSED = "proposed", "The shop offered a partial refund"
        REJECTED = "rejected", "The shop rejected the request"
        RETURN_PENDING = "return_pending", "Waiting for the buyer to send the item back"
        RETURN_SHIPPED = "return_shipped", "Item on its way back to the shop"
        ESCALATED = "escalated", "Escalated to Circle Market"
        REFUNDED = "refunded", "Refunded"
        CLOSED = "closed", "Closed without refund"
        WITHDRAWN = "withdrawn", "Withdrawn by the buyer"

    # Every status a request can move to from each status; services check it.
    TRANSITIONS = {
        Status.OPEN: {Status.PROPOSED, Status.REJECTED, Status.RETURN_PENDING, Status.REFUNDED, Status.WITHDRAWN},
        Status.PROPOSED: {Status.REFUNDED, Status.ESCALATED, Status.WITHDRAWN},
        Status.REJECTED: {Status.ESCALATED, Status.CLOSED, Status.WITHDRAWN},
        Status.RETURN_PENDING: {Status.RETURN_SHIPPED, Status.CLOSED, Status.WITHDRAWN},
        Status.RETURN_SHIPPED: {Status.REFUNDED, Status.ESCALATED},
        Status.ESCALATED: {Status.REFUNDED, Status.CLOSED},
    }
    OPEN_STATUSES = (
        Status.OPEN, Status.PROPOSED, Status.REJECTED, Status.RETURN_PENDING, Status.RETURN_SHIPPED, Status.ESCALATED,
    )  # fmt: skip

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="after_sales_requests")
    line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="after_sales_requests")
    shop = models.ForeignKey("shops.Shop", on_delete=models.PROTECT, related_name="after_sales_requests")
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="after_sales_requests")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    description = models.TextField(max_length=2000)
    amount_minor = models.BigIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    # The one deadline running now (merchant reply, buyer return, shop receipt, buyer's
    # answer); a beat sweeper applies the default outcome when it passes.
    deadline_at = models.DateTimeField(null=True, blank=True)
    proposed_minor = models.BigIntegerField(null=True, blank=True)
    return_address = models.CharField(max_length=300, blank=True)
    return_carrier = models.CharField(max_length=60, blank=True)
    return_tracking_number = models.CharField(max_length=60, blank=True)
    refunded_minor = models.BigIntegerField(default=0)
    outcome_note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "deadline_at"], name="aftersales_due_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="aftersales_amount_positive"),
            models.CheckConstraint(condition=Q(refunded_minor__gte=0), name="aftersales_refunded_nonneg"),
            # One open request per order line.
            models.UniqueConstraint(
                fields=["line"],
                condition=Q(
                    status__in=["open", "proposed", "rejected", "return_pending", "return_shipped", "escalated"]
                ),
                name="aftersales_one_open_per_line",
            ),
        ]

    def __str__(self):
        return f"Request {self.pk} on order {self.order_id} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class Dispute(models.Model):
    """A case for the platform to rule: an escalated request, or a card chargeback."""

    class Source(models.TextChoices):
        ESCALATION = "escalation", "Escalated request"
        CHARGEBACK = "chargeback", "Card chargeback"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RULED = "ruled", "Ruled"
        CLOSED = "closed", "Closed"

    class Outcome(models.TextChoices):
        FULL_REFUND = "full_refund", "Full refund to the buyer"
        PARTIAL_REFUND = "partial_refund", "Partial refund to the buyer"
        RELEASE = "release", "Payment released to the shop"
        CHARGEBACK_WON = "chargeback_won", "Chargeback won by the shop"
        CHARGEBACK_LOST = "chargeback_lost", "Chargeback lost: the card issuer refunded the buyer"

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="disputes")
    shop = models.ForeignKey("shops.Shop", on_delete=models.PROTECT, related_name="disputes")
    request = models.OneToOneField(
        AfterSalesRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="dispute"
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The 60-day fallback: a dispute nobody rules by then closes with the configured default.
    decide_by = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    outcome_minor = models.BigIntegerField(default=0)
    ruling_reason = models.TextField(max_length=2000, blank=True)
    ruled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ruled_at = models.DateTimeField(null=True, blank=True)
    # "<Stripe dispute id>:<order id>": one chargeback can span the orders of a payment.
    stripe_dispute_id = models.CharField(max_length=120, null=True, blank=True, unique=True)
    chargeback_minor = models.BigIntegerField(default=0)
    # Whether the order was already settled (the money released) when the chargeback came.
    chargeback_after_release = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["decide_by"]
        indexes = [models.Index(fields=["status", "decide_by"], name="dispute_due_idx")]

    def __str__(self):
        return f"Dispute {self.pk} on order {self.order_id} ({self.get_status_display()})"

    @property
    def buyer_won(self) -> bool:
        return self.outcome in (self.Outcome.FULL_REFUND, self.Outcome.PARTIAL_REFUND, self.Outcome.CHARGEBACK_LOST)


class CaseEvent(models.Model):
    """One step on a request's or dispute's timeline."""

    request = models.ForeignKey(
        AfterSalesRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    dispute = models.ForeignKey(Dispute, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=40)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=600, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]


class Message(models.Model):
    request = models.ForeignKey(AfterSalesRequest, on_delete=models.PROTECT, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]


class Evidence(models.Model):
    """A photo re-encoded like product photos (shops.images.image_intake), never the upload."""

    request = models.ForeignKey(AfterSalesRequest, on_delete=models.PROTECT, related_name="evidence")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.PROTECT, related_name="evidence")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    image = models.FileField(storage=_evidence_storage, upload_to=_evidence_path)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]


class Sanction(models.Model):
    """A penalty on a shop, public while in force and kept forever in the shop's history."""

    class Kind(models.TextChoices):
        WARNING = "warning", "Warning"
        LISTING_FREEZE = "listing_freeze", "Listings frozen"
        PAYOUT_HOLD = "payout_hold", "Payouts on hold"
        SUSPENSION = "suspension", "Shop suspended"

    shop = models.ForeignKey("shops.Shop", on_delete=models.PROTECT, related_name="sanctions")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.CharField(max_length=500)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    payout_hold = models.OneToOneField(
        "payments.PayoutHold", null=True, blank=True, on_delete=models.PROTECT, related_name="sanction"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set once the sanction's effect is undone (lifted early, or by the sweeper at ends_at).
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "-pk"]
        indexes = [models.Index(fields=["ended_at", "ends_at"], name="sanction_due_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="sanction_ends_after")
        ]

    def __str__(self):
        return f"{self.get_kind_display()} on {self.shop}"
