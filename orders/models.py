from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Cart(models.Model):
    """A cart: a signed-in user's, or an anonymous session's until it logs in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="cart"
    )
    session_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False) | Q(session_key__isnull=False), name="cart_has_owner"
            )
        ]


class CartItem(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    variant = models.ForeignKey("shops.Variant", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField()
    # The price the buyer saw when adding; checkout compares it with the current one.
    price_seen_minor = models.BigIntegerField()
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cart", "variant"], name="cart_item_unique_variant"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="cart_item_quantity_positive"),
        ]


class OrderGroup(models.Model):
    """One checkout: one payment for orders from several shops."""

    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", "Waiting for payment"
        PAID = "paid", "Paid"
        EXPIRED = "expired", "Payment not completed"

    # Indexed by order_group_idempotency (buyer, key), which a buyer's lookups use.
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="order_groups", db_index=False
    )
    idempotency_key = models.CharField(max_length=64)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING_PAYMENT)
    currency = models.CharField(max_length=3)
    total_minor = models.BigIntegerField()
    ship_name = models.CharField(max_length=80)
    ship_phone = models.CharField(max_length=32)
    ship_address = models.CharField(max_length=300)
    ship_city = models.CharField(max_length=80)
    ship_postal_code = models.CharField(max_length=16, blank=True)
    ship_country = models.CharField(max_length=2, default="CN")
    # Stripe PaymentIntent; "started" marker: the key is stored before Stripe is called.
    payment_intent_id = models.CharField(max_length=100, blank=True)
    # When the "creating" marker was set: an old one was left by a process that died mid-call.
    payment_intent_started_at = models.DateTimeField(null=True, blank=True)
    payment_client_secret = models.CharField(max_length=200, blank=True)
    card_fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    pay_by = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)

    # True on the group checkout_place returns when that call placed it. A group is born
    # claimed for its PaymentIntent by the request that places it (the "creating" marker):
    # that request creates it (payment_intent_ensure(placed=group)), no other does.
    placed_now = False

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["buyer", "idempotency_key"], name="order_group_idempotency"),
            models.CheckConstraint(condition=Q(total_minor__gt=0), name="order_group_total_positive"),
        ]
        # A plain index (db_index would add a LIKE index too): ids are only looked up whole.
        indexes = [models.Index(fields=["payment_intent_id"], name="order_group_payment_intent")]


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", "Waiting for payment"
        PAID = "paid", "Paid, to be shipped"
        SHIPPED = "shipped", "Shipped"
        RECEIVED = "received", "Received"
        SETTLED = "settled", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Payment not completed"

    class HeldBy(models.TextChoices):
        """Who put the order on hold; only that owner's service lifts its own hold."""

        BUYER_PROTECTION = "buyer_protection", "Buyer protection case"
        SETTLEMENT = "settlement", "Settlement check"

    # The allowed status changes, enforced by orders.services.transitions.order_transition
    # (and, for the set-based payment and settlement statements, by Order.sources).
    TRANSITIONS = {
        Status.PENDING_PAYMENT: {Status.PAID, Status.EXPIRED},
        Status.PAID: {Status.SHIPPED, Status.CANCELLED},
        Status.SHIPPED: {Status.RECEIVED},
        Status.RECEIVED: {Status.SETTLED},
        Status.SETTLED: set(),
        Status.CANCELLED: set(),
        Status.EXPIRED: set(),
    }

    group = models.ForeignKey(OrderGroup, on_delete=models.PROTECT, related_name="orders")
    shop = models.ForeignKey("shops.Shop", on_delete=models.PROTECT, related_name="orders")
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING_PAYMENT)
    currency = models.CharField(max_length=3)
    items_minor = models.BigIntegerField()
    shipping_minor = models.BigIntegerField()
    total_minor = models.BigIntegerField()
    # Frozen at checkout, so a later settings change never alters this order.
    platform_fee_bps = models.PositiveIntegerField()
    refunded_minor = models.BigIntegerField(default=0)
    # The disputes hook: while held, timers skip the order and settlement refuses it.
    is_held = models.BooleanField(default=False)
    held_by = models.CharField(max_length=24, choices=HeldBy.choices, blank=True, default="", db_default="")
    held_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    ship_by = models.DateTimeField(null=True, blank=True)
    ship_reminder_sent_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    carrier = models.CharField(max_length=60, blank=True)
    tracking_number = models.CharField(max_length=60, blank=True)
    auto_confirm_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    after_sales_ends_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The timers' sweeps (orders.tasks) read one status each. Partial, an order
            # is in these indexes only while it waits in that status: every later
            # transition (settlement's above all) writes two index entries fewer.
            models.Index(fields=["ship_by"], condition=Q(status="paid"), name="order_ship_by_paid"),
            models.Index(fields=["auto_confirm_at"], condition=Q(status="shipped"), name="order_auto_confirm_shipped"),
            # Settlement's sweep, oldest first: only orders it may take are in it, so a
            # batch reads its own rows and no more, however many orders were settled before.
            models.Index(
                fields=["after_sales_ends_at", "id"],
                condition=Q(status="received", is_held=False),
                name="order_settle_due",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(items_minor__gt=0), name="order_items_positive"),
            models.CheckConstraint(condition=Q(shipping_minor__gte=0), name="order_shipping_nonneg"),
            models.CheckConstraint(
                condition=Q(total_minor=F("items_minor") + F("shipping_minor")), name="order_total_is_sum"
            ),
            models.CheckConstraint(
                condition=Q(refunded_minor__gte=0) & Q(refunded_minor__lte=F("total_minor")),
                name="order_refund_bounded",
            ),
        ]

    def __str__(self):
        return f"Order {self.pk}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("order_detail", args=[self.pk])

    @classmethod
    def sources(cls, to: str) -> list[str]:
        """The statuses an order may move to `to` from."""
        return [status for status, targets in cls.TRANSITIONS.items() if to in targets]


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="lines")
    product = models.ForeignKey("shops.Product", on_delete=models.PROTECT, related_name="+")
    variant = models.ForeignKey("shops.Variant", on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=120)
    variant_name = models.CharField(max_length=80)
    unit_price_minor = models.BigIntegerField()
    quantity = models.PositiveIntegerField()
    total_minor = models.BigIntegerField()
    # Commission frozen when the order is placed: promoter, rate and base.
    promoter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    commission_bps = models.PositiveIntegerField(default=0)
    commission_base_minor = models.BigIntegerField(default=0)
    # The referrals.Share the sale came through, for the promoter's per-link figures. A plain
    # id: orders sits below referrals and must not depend on its models or migrations.
    share_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        # Most lines have no promoter and no share: their indexes leave those lines out.
        indexes = [
            models.Index(fields=["promoter"], name="order_line_promoter", condition=Q(promoter__isnull=False)),
            models.Index(fields=["share_id"], name="order_line_share", condition=Q(share_id__isnull=False)),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(total_minor=F("unit_price_minor") * F("quantity")), name="order_line_total_is_product"
            ),
        ]


class OrderEvent(models.Model):
    """The order's timeline: who did what, when."""

    class Kind(models.TextChoices):
        PLACED = "placed", "Placed"
        PAID = "paid", "Paid"
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        EXPIRED = "expired", "Expired"
        SHIPPED = "shipped", "Shipped"
        SHIP_REMINDER = "ship_reminder", "Ship reminder"
        RECEIVED = "received", "Received"
        CANCELLED = "cancelled", "Cancelled"
        HELD = "held", "Held"
        HOLD_RELEASED = "hold_released", "Hold released"
        SETTLED = "settled", "Settled"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=40, choices=Kind.choices)
    # Events the system records have no actor; the index leaves them out.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["actor"], name="order_event_actor", condition=Q(actor__isnull=False))]
