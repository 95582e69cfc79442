from django.conf import settings
from django.db import models
from django.db.models import Q


class LedgerAccount(models.Model):
    """One account of the double-entry ledger. A positive balance is money held for the
    holder (an order's escrow, a merchant, a promoter, the platform); the clearing
    account goes negative by what came in from outside."""

    class Kind(models.TextChoices):
        CLEARING = "clearing", "Payment clearing"
        ESCROW = "escrow", "Held payment (per order)"
        MERCHANT_AVAILABLE = "merchant_available", "Merchant available"
        PROMOTER_PENDING = "promoter_pending", "Promoter pending"
        PROMOTER_AVAILABLE = "promoter_available", "Promoter available"
        # Pending commission of an order with an open dispute or after-sales request.
        PROMOTER_FROZEN = "promoter_frozen", "Promoter frozen"
        PLATFORM_FEES = "platform_fees", "Platform fees"
        PAYOUTS_IN_TRANSIT = "payouts_in_transit", "Payouts in transit"
        PAYOUTS_PAID = "payouts_paid", "Paid out"
        REFUNDS = "refunds", "Refunds"

    # Unique by the constraint below (a plain unique index: codes are only looked up whole).
    code = models.CharField(max_length=80)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # One holder per account: each holder index leaves out the accounts of other holders.
    shop = models.ForeignKey(
        "shops.Shop", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["code"], name="ledger_account_code")]
        indexes = [
            models.Index(fields=["shop"], name="ledger_account_shop", condition=Q(shop__isnull=False)),
            models.Index(fields=["user"], name="ledger_account_user", condition=Q(user__isnull=False)),
            models.Index(fields=["order"], name="ledger_account_order", condition=Q(order__isnull=False)),
        ]

    def __str__(self):
        return self.code


class LedgerTransaction(models.Model):
    """A balanced set of entries in one currency, all written by one INSERT statement in the
    database transaction that created it. The database refuses a statement that leaves a
    transaction unbalanced, entries added to it later, entries on accounts of another
    currency, and any edit (migrations 0002, 0005 and 0010)."""

    class Kind(models.TextChoices):
        PAYMENT_CAPTURED = "payment_captured", "Payment captured"
        SETTLEMENT = "settlement", "Settlement"
        REFUND = "refund", "Refund"
        PAYOUT_SENT = "payout_sent", "Payout sent"
        PAYOUT_PAID = "payout_paid", "Payout paid"
        PAYOUT_FAILED = "payout_failed", "Payout failed"
        COMMISSION_FROZEN = "commission_frozen", "Commission frozen"
        COMMISSION_UNFROZEN = "commission_unfrozen", "Commission unfrozen"
        ADJUSTMENT = "adjustment", "Adjustment"

    # Unique by the constraint below (a plain unique index: keys are only looked up whole).
    idempotency_key = models.CharField(max_length=120)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    memo = models.CharField(max_length=200, blank=True)
    # The posting session's currency (settings put MARKETPLACE_CURRENCY in the connection's
    # marketplace.currency): the database refuses entries on accounts of another (0010).
    currency = models.CharField(
        max_length=3,
        db_default=models.Func(
            models.Value("marketplace.currency"), function="current_setting", output_field=models.CharField()
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="ledger_transaction_idempotency")]

    def __str__(self):
        return f"{self.kind} {self.idempotency_key}"


class LedgerEntry(models.Model):
    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    # Indexed by ledger_entry_account (account, id) below; a second index would only slow writes.
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries", db_index=False)
    # Signed, minor units: + into the account, − out of it.
    amount_minor = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["account", "id"], name="ledger_entry_account")]
        constraints = [models.CheckConstraint(condition=~Q(amount_minor=0), name="ledger_entry_nonzero")]


class WebhookEvent(models.Model):
    """A Stripe event, stored once (unique id) with how its handling went."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        SUCCEEDED = "succeeded", "Succeeded"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"
        # Signed, but not a well-formed event we can apply: kept with the reason, never retried.
        REJECTED = "rejected", "Rejected"
        # Applying it failed MARKETPLACE_WEBHOOK_MAX_ATTEMPTS times: left to staff (an alert).
        DEAD_LETTER = "dead_letter", "Dead letter"

    # Unique by the constraint below (a plain unique index: ids are only looked up whole).
    stripe_id = models.CharField(max_length=100)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    stripe_created_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    # Failed attempts to apply it (an exception, not a refusal); the last one's error is kept.
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stripe_id"], name="webhook_event_stripe_id")]

    def __str__(self):
        return f"{self.type} {self.stripe_id}"


class Refund(models.Model):
    """Money returned to a buyer from an order's held payment. Posted to the ledger when
    created; sent to Stripe by a task, with an idempotency key from this row's id."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"

    class Kind(models.TextChoices):
        REFUND = "refund", "Refund"
        # Taken back by the card issuer: posted like a refund, never sent to Stripe.
        CHARGEBACK = "chargeback", "Chargeback"

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="refunds")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.REFUND)
    amount_minor = models.BigIntegerField()
    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    stripe_refund_id = models.CharField(max_length=100, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount_minor__gt=0), name="refund_amount_positive")]


class Payout(models.Model):
    """One payee's available balance on its way to their Stripe Connect account.

    Created by the payout run, which moves the money from available to in transit; a
    Stripe transfer (idempotency key from this row's id) then makes it paid, or failed
    with the money back in available."""

    class Status(models.TextChoices):
        IN_TRANSIT = "in_transit", "In transit"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"

    shop = models.ForeignKey("shops.Shop", null=True, blank=True, on_delete=models.PROTECT, related_name="payouts")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="payouts"
    )
    amount_minor = models.BigIntegerField()
    destination = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_TRANSIT)
    stripe_transfer_id = models.CharField(max_length=100, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="payout_status")]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(
                condition=Q(shop__isnull=False, user__isnull=True) | Q(shop__isnull=True, user__isnull=False),
                name="payout_one_payee",
            ),
            # A second (or concurrent) run can never open another payout for the same payee.
            models.UniqueConstraint(fields=["shop"], condition=Q(status="in_transit"), name="payout_one_open_per_shop"),
            models.UniqueConstraint(fields=["user"], condition=Q(status="in_transit"), name="payout_one_open_per_user"),
        ]

    def __str__(self):
        return f"Payout {self.pk} ({self.get_status_display()})"

    @property
    def payee(self):
        return self.shop or self.user


class PayoutHold(models.Model):
    """A sanction or fraud hold: the payout run skips this payee while it is in force."""

    shop = models.ForeignKey("shops.Shop", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(shop__isnull=False, user__isnull=True) | Q(shop__isnull=True, user__isnull=False),
                name="payout_hold_one_payee",
            ),
        ]

    def __str__(self):
        return f"Payout hold on {self.shop or self.user}: {self.reason}"


class StaffAlert(models.Model):
    """Something staff must look at (a webhook event that keeps failing), opened once per
    subject and mailed to staff; resolved in the admin."""

    kind = models.CharField(max_length=40)
    # What it is about, e.g. the Stripe event id: one open alert per kind and subject.
    subject_ref = models.CharField(max_length=120)
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "subject_ref"], name="staff_alert_once")]

    def __str__(self):
        return self.title


class CommissionHold(models.Model):
    """One order line's commission under fraud review. While held (or voiding) the payout
    run leaves its amount in the promoter's available balance; released, the next payout
    pays it; voided, a ledger posting gave it back to the merchant."""

    class Status(models.TextChoices):
        HELD = "held", "Held"
        # Confirmed before the order settled: voided by the ledger once it has.
        VOIDING = "voiding", "Voiding"
        RELEASED = "released", "Released"
        VOIDED = "voided", "Voided"

    class Category(models.TextChoices):
        # What promoters and merchants read: a plain category, never the evidence.
        SAME_PERSON = "same_person", "The buyer and the promoter appear to be the same person"
        UNUSUAL_BUYING = "unusual_buying", "Unusual buying pattern through this link"
        LINKED_ACCOUNTS = "linked_accounts", "Linked accounts buying from each other"

    line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="+")
    promoter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.HELD)
    category = models.CharField(max_length=24, choices=Category.choices)
    # Staff-only evidence: the rule or case and what it saw.
    reason = models.CharField(max_length=300)
    decision_reason = models.CharField(max_length=300, blank=True)
    voided_minor = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["line"], condition=Q(status__in=["held", "voiding"]), name="commission_hold_one_open_per_line"
            ),
            models.CheckConstraint(condition=Q(voided_minor__gte=0), name="commission_hold_voided_not_negative"),
        ]
        indexes = [
            models.Index(fields=["promoter"], name="commission_hold_open", condition=Q(status__in=["held", "voiding"]))
        ]

    def __str__(self):
        return f"Commission hold on line {self.line_id} ({self.get_status_display()})"
