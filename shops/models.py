from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q


class Shop(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        # A sanction: the shop stays visible, its products cannot be seen in browse or bought.
        FROZEN = "frozen", "Listings frozen"

    class RestrictedBy(models.TextChoices):
        """Who restricted the shop; a sanction's end lifts only a sanction's restriction."""

        STAFF = "staff", "Staff"
        SANCTION = "sanction", "Sanction"

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="shop")
    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=60, unique=True)
    logo = models.ImageField(upload_to="shops/logos/", blank=True)
    description = models.TextField(blank=True, max_length=4000)
    contact = models.CharField(max_length=200, blank=True)
    return_policy = models.TextField(blank=True, max_length=4000)
    shipping_regions = models.CharField(max_length=300, blank=True)
    # Flat shipping fee per order from this shop, in minor units.
    shipping_fee_minor = models.BigIntegerField(default=0)
    # Stripe Connect account that receives this shop's transfers.
    stripe_account_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    suspended_reason = models.CharField(max_length=300, blank=True)
    restricted_by = models.CharField(max_length=16, choices=RestrictedBy.choices, blank=True, default="", db_default="")
    is_verified = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(shipping_fee_minor__gte=0), name="shop_shipping_fee_nonneg")]

    def __str__(self):
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("shop_detail", args=[self.slug])

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.ACTIVE


class Category(models.Model):
    """A node of the admin-managed category tree."""

    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=80, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


class Product(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="products")
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="products")
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=10_000)
    # Lowest price among active variants; kept in step by the variant services.
    price_minor = models.BigIntegerField()
    compare_at_price_minor = models.BigIntegerField(null=True, blank=True)
    commission_bps = models.PositiveIntegerField()
    is_no_reason_return = models.BooleanField(default=True)
    weight_grams = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    is_featured = models.BooleanField(default=False)
    # Sum of variant stock, kept in step by the variant services (for listing badges).
    stock_total = models.BigIntegerField(default=0)
    cover_photo = models.ForeignKey("ProductPhoto", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    search_vector = SearchVectorField(null=True, editable=False)
    # Title trigrams for typo-tolerant search without the pg_trgm extension.
    title_trigrams = ArrayField(models.CharField(max_length=3), default=list, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            GinIndex(fields=["search_vector"], name="product_search_gin"),
            GinIndex(fields=["title_trigrams"], name="product_trigram_gin"),
            models.Index(fields=["status", "-created_at"], name="product_status_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price_minor__gt=0), name="product_price_positive"),
            models.CheckConstraint(
                condition=Q(compare_at_price_minor__isnull=True) | Q(compare_at_price_minor__gt=0),
                name="product_compare_at_positive",
            ),
            models.CheckConstraint(condition=Q(commission_bps__lte=10_000), name="product_commission_bps_max"),
            models.CheckConstraint(condition=Q(stock_total__gte=0), name="product_stock_total_nonneg"),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("product_detail", args=[self.pk])


class Variant(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=80, help_text="e.g. Red / M")
    sku = models.CharField(max_length=64)
    price_minor = models.BigIntegerField()
    stock = models.BigIntegerField(default=0)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(price_minor__gt=0), name="variant_price_positive"),
            # The last guard against overselling: stock can never go below zero.
            models.CheckConstraint(condition=Q(stock__gte=0), name="variant_stock_nonneg"),
            models.UniqueConstraint(fields=["product", "sku"], name="variant_sku_unique_per_product"),
        ]

    def __str__(self):
        return f"{self.product.title} — {self.name}"


class ProductPhoto(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="photos")
    position = models.PositiveIntegerField(default=0)
    # Re-encoded upload: no metadata, orientation applied. Renditions are made from it.
    original = models.ImageField(upload_to="products/originals/")
    thumb = models.ImageField(upload_to="products/thumb/", blank=True)
    card = models.ImageField(upload_to="products/card/", blank=True)
    full = models.ImageField(upload_to="products/full/", blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return f"photo {self.pk} of product {self.product_id}"
