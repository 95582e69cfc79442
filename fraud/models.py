from django.conf import settings
from django.db import models
from django.db.models import Q


class Signal(models.Model):
    """An account seen with an identifier. Values are keyed hashes (fraud.signals): the
    identifier can be matched, not read back."""

    class Kind(models.TextChoices):
        VISITOR = "visitor", "Visitor cookie"
        IP = "ip", "Network (truncated IP)"
        USER_AGENT = "user_agent", "Browser family"
        CARD = "card", "Payment card"
        ADDRESS = "address", "Shipping address"
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"
        PAYOUT = "payout", "Payout destination"

    # The kinds strong enough to link two accounts in the ring scan.
    STRONG = (Kind.VISITOR, Kind.CARD, Kind.ADDRESS, Kind.PAYOUT)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value", "user"], name="fraud_signal_once")]
        indexes = [models.Index(fields=["user", "kind"], name="fraud_signal_user")]


class RuleHit(models.Model):
    """A real-time rule that fired, with what it saw (staff only)."""

    class Rule(models.TextChoices):
        SAME_PERSON = "same_person", "Buyer and promoter share an identifier"
        NEW_ACCOUNT = "new_account", "Account created minutes before buying through a link"
        REPEAT_ITEM = "repeat_item", "Same buyer, item and promoter again and again"
        DEVICE_BURST = "device_burst", "Many referred purchases from one device in a day"

    rule = models.CharField(max_length=24, choices=Rule.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    line = models.ForeignKey("orders.OrderLine", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)


class Case(models.Model):
    """A ring the nightly scan found: its members, what links them, what they did."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLEARED = "cleared", "Cleared"
        CONFIRMED = "confirmed", "Confirmed"
        SPLIT = "split", "Split"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    score = models.FloatField()
    # The sorted member ids, joined: one case per ring, whatever the number of scans.
    members_key = models.CharField(max_length=2000)
    # The evidence the case was opened on (order ids): a cleared ring comes back only with new orders.
    order_ids = models.JSONField(default=list)
    line_ids = models.JSONField(default=list)
    review_ids = models.JSONField(default=list)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["members_key"], condition=Q(status="open"), name="fraud_case_one_open"),
        ]
        indexes = [models.Index(fields=["status", "-score"], name="fraud_case_queue")]

    def __str__(self):
        return f"Fraud case {self.pk} ({self.get_status_display()})"


class CaseLink(models.Model):
    """An identifier that links members of a case, and how many of them share it."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="links")
    kind = models.CharField(max_length=16, choices=Signal.Kind.choices)
    value = models.CharField(max_length=64)
    accounts = models.PositiveIntegerField()
