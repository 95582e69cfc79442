from django.conf import settings
from django.db import models
from django.db.models import Q


class Share(models.Model):
    """A promoter's link to one product or one shop. Only the sharer is stored: there is
    no inviter, upline or team anywhere in the schema, so commissions are one level by
    construction."""

    promoter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="shares")
    product = models.ForeignKey("shops.Product", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    shop = models.ForeignKey("shops.Shop", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Random, unguessable, not sequential.
    code = models.CharField(max_length=16, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(product__isnull=False) & Q(shop__isnull=True))
                | (Q(product__isnull=True) & Q(shop__isnull=False)),
                name="share_one_target",
            ),
            models.UniqueConstraint(fields=["promoter", "product"], name="share_once_per_product"),
            models.UniqueConstraint(fields=["promoter", "shop"], name="share_once_per_shop"),
        ]


class Click(models.Model):
    """A counted click: one per visitor, share and day; bots are not stored."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="clicks")
    visitor_id = models.CharField(max_length=32)
    ip_hash = models.CharField(max_length=64)
    user_agent = models.CharField(max_length=300, blank=True)
    day = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["share", "visitor_id", "day"], name="click_once_per_day")]


class Attribution(models.Model):
    """The visitor's current attribution: the last click wins, until it expires."""

    visitor_id = models.CharField(max_length=32, unique=True)
    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="+")
    clicked_at = models.DateTimeField()
    expires_at = models.DateTimeField()


class CommissionRefusal(models.Model):
    """An attribution that earned nothing, and why (kept for the promoter and for fraud review)."""

    class Reason(models.TextChoices):
        SELF_PURCHASE = "self_purchase", "The sharer bought it themselves"
        OWN_SHOP = "own_shop", "The sharer owns the shop"
        SAME_EMAIL = "same_email", "The buyer's email is the sharer's (an alias)"
        SAME_ADDRESS = "same_address", "The buyer ships to the sharer's address"
        SAME_CARD = "same_card", "The buyer paid with the sharer's card"

    share = models.ForeignKey(Share, on_delete=models.PROTECT, related_name="refusals")
    order_group = models.ForeignKey("orders.OrderGroup", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey("shops.Product", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    created_at = models.DateTimeField(auto_now_add=True)
