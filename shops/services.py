"""Every write to shops and the catalog goes through here."""

import hashlib

from django.conf import settings
from django.contrib.postgres.search import SearchVector
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Max, Min, ProtectedError, Sum
from django.utils import timezone
from django.utils.text import slugify

from marketplace.errors import ConflictError, DomainError
from shops.images import image_intake, image_renditions
from shops.models import Category, Product, ProductPhoto, Shop, Variant
from shops.search import trigrams

MAX_PHOTOS_PER_PRODUCT = 20
CATALOG_VERSION_KEY = "catalog:version"
# How long a cached product grid may show a stale stock badge (prices and visibility never lag).
GRID_TTL = 60


def catalog_cache_key(path: str, params) -> str:
    query = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    return "grid:" + hashlib.sha256(f"{path}?{query}".encode()).hexdigest()[:32]


def catalog_cache_get(key: str):
    """A cached value stored with catalog_cache_set, or None when missing or older than the
    catalog's latest change. One Redis round trip for both the version and the value."""
    found = cache.get_many([CATALOG_VERSION_KEY, key])
    entry = found.get(key)
    if entry is None or entry[0] != found.get(CATALOG_VERSION_KEY, 0):
        return None
    return entry[1]


def catalog_cache_set(key: str, value, ttl: int) -> None:
    # The version read before the value was built: a change meanwhile makes this entry stale.
    cache.set(key, (cache.get(CATALOG_VERSION_KEY, 0), value), ttl)


def catalog_changed() -> None:
    """Retire every cached grid: now (for this transaction's own reads) and again at commit
    (so nothing cached from before the commit survives it)."""

    def bump():
        try:
            cache.incr(CATALOG_VERSION_KEY)
        except ValueError:
            cache.add(CATALOG_VERSION_KEY, 1, None)

    bump()
    transaction.on_commit(bump)


# --- Shops ------------------------------------------------------------------------------


def _shop_slug_free(base: str) -> str:
    base = slugify(base)[:50] or "shop"
    slug, n = base, 1
    while Shop.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def shop_open(*, owner, name: str, slug: str = "", **fields) -> Shop:
    """Open the one shop a user may have."""
    if Shop.objects.filter(owner=owner).exists():
        raise ConflictError("You already have a shop.")
    if slug and Shop.objects.filter(slug=slug).exists():
        raise DomainError("That shop address is taken. Choose another.", field="slug")
    logo = fields.pop("logo", None)
    shop = Shop(owner=owner, name=name.strip(), slug=slug or _shop_slug_free(name), **fields)
    if logo:
        encoded = image_intake(logo, max_side=512)
        shop.logo.save(f"logo-{shop.slug}.jpg", ContentFile(encoded.content), save=False)
    try:
        with transaction.atomic():
            shop.save()
    except IntegrityError:
        raise ConflictError("You already have a shop, or that address was just taken.") from None
    return shop


def shop_update(*, shop: Shop, **fields) -> Shop:
    logo = fields.pop("logo", None)
    for name, value in fields.items():
        setattr(shop, name, value)
    if logo:
        encoded = image_intake(logo, max_side=512)
        shop.logo.save(f"logo-{shop.slug}.jpg", ContentFile(encoded.content), save=False)
    shop.save()
    catalog_changed()
    return shop


def shop_verify(*, shop_id: int) -> Shop:
    with transaction.atomic():
        shop = Shop.objects.select_for_update().get(pk=shop_id)
        if not shop.is_verified:
            shop.is_verified = True
            shop.verified_at = timezone.now()
            shop.save(update_fields=["is_verified", "verified_at"])
            catalog_changed()
    return shop


def _shop_restrict(*, shop_id: int, status: str, reason: str, by: str) -> Shop:
    if not reason.strip():
        raise DomainError("Give a reason; it is shown on the shop page.", field="reason")
    with transaction.atomic():
        shop = Shop.objects.select_for_update().get(pk=shop_id)
        shop.status = status
        shop.suspended_reason = reason.strip()[:300]
        shop.restricted_by = by
        shop.save(update_fields=["status", "suspended_reason", "restricted_by"])
        catalog_changed()
    return shop


def shop_suspend(*, shop_id: int, reason: str, by: str = Shop.RestrictedBy.STAFF) -> Shop:
    """Suspend a shop: its products leave browse and cannot be bought. `by` (a
    Shop.RestrictedBy) records who did, so that only they lift it."""
    return _shop_restrict(shop_id=shop_id, status=Shop.Status.SUSPENDED, reason=reason, by=by)


def shop_listings_freeze(*, shop_id: int, reason: str, by: str = Shop.RestrictedBy.STAFF) -> Shop:
    """A sanction short of suspension: same effect on the catalog, the shop page stays up."""
    return _shop_restrict(shop_id=shop_id, status=Shop.Status.FROZEN, reason=reason, by=by)


def shop_reinstate(*, shop_id: int) -> Shop:
    with transaction.atomic():
        shop = Shop.objects.select_for_update().get(pk=shop_id)
        shop.status = Shop.Status.ACTIVE
        shop.suspended_reason = ""
        shop.restricted_by = ""
        shop.save(update_fields=["status", "suspended_reason", "restricted_by"])
        catalog_changed()
    return shop


# --- Products ---------------------------------------------------------------------------


def _commission_check(bps: int) -> None:
    low, high = settings.MARKETPLACE_COMMISSION_MIN_BPS, settings.MARKETPLACE_COMMISSION_MAX_BPS
    if not low <= bps <= high:
        raise DomainError(
            f"The commission rate must be between {low / 100:g}% and {high / 100:g}%.",
            field="commission_bps",
        )


def _price_check(price_minor: int, field: str = "price_minor") -> None:
    if price_minor <= 0:
        raise DomainError("The price must be more than zero.", field=field)


def _product_refresh_derived(product: Product) -> None:
    """Recompute the denormalised price, stock, cover and search columns of one product."""
    agg = product.variants.filter(is_active=True).aggregate(low=Min("price_minor"), stock=Sum("stock"))
    product.price_minor = agg["low"] or product.price_minor
    product.stock_total = agg["stock"] or 0
    product.cover_photo = product.photos.order_by("position", "id").first()
    product.title_trigrams = trigrams(product.title)
    product.save(update_fields=["price_minor", "stock_total", "cover_photo", "title_trigrams", "updated_at"])
    Product.objects.filter(pk=product.pk).update(
        search_vector=SearchVector("title", weight="A", config="english")
        + SearchVector("description", weight="B", config="english")
    )
    catalog_changed()


def product_create(
    *,
    shop: Shop,
    title: str,
    price_minor: int,
    commission_bps: int,
    stock: int = 0,
    description: str = "",
    category: Category | None = None,
    compare_at_price_minor: int | None = None,
    is_no_reason_return: bool = True,
    weight_grams: int = 0,
    status: str = Product.Status.DRAFT,
    sku: str = "",
) -> Product:
    """Create a product with its default variant (every product has at least one)."""
    if not shop.is_open:
        raise ConflictError("A suspended shop cannot list products.")
    _price_check(price_minor)
    _commission_check(commission_bps)
    if stock < 0:
        raise DomainError("Stock cannot be negative.", field="stock")
    if compare_at_price_minor is not None and compare_at_price_minor <= price_minor:
        raise DomainError("The compare-at price must be higher than the price.", field="compare_at_price_minor")
    with transaction.atomic():
        product = Product.objects.create(
            shop=shop,
            title=title.strip(),
            description=description,
            category=category,
            price_minor=price_minor,
            compare_at_price_minor=compare_at_price_minor,
            commission_bps=commission_bps,
            is_no_reason_return=is_no_reason_return,
            weight_grams=weight_grams,
            status=status,
        )
        Variant.objects.create(
            product=product, name="Standard", sku=sku or f"P{product.pk}", price_minor=price_minor, stock=stock
        )
        _product_refresh_derived(product)
    return product


def product_update(*, product: Product, **fields) -> Product:
    if "commission_bps" in fields:
        _commission_check(fields["commission_bps"])
    if "price_minor" in fields:
        _price_check(fields["price_minor"])
    compare_at = fields.get("compare_at_price_minor", product.compare_at_price_minor)
    price = fields.get("price_minor", product.price_minor)
    if compare_at is not None and compare_at <= price:
        raise DomainError("The compare-at price must be higher than the price.", field="compare_at_price_minor")
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product.pk)
        new_price = fields.pop("price_minor", None)
        for name, value in fields.items():
            setattr(product, name, value)
        product.save()
        variants = list(product.variants.all())
        # With a single variant, the product price is that variant's price.
        if new_price is not None and len(variants) == 1:
            Variant.objects.filter(pk=variants[0].pk).update(price_minor=new_price)
        _product_refresh_derived(product)
    return product


_STATUS_TRANSITIONS = {
    Product.Status.DRAFT: {Product.Status.ACTIVE, Product.Status.ARCHIVED},
    Product.Status.ACTIVE: {Product.Status.DRAFT, Product.Status.ARCHIVED},
    Product.Status.ARCHIVED: {Product.Status.DRAFT, Product.Status.ACTIVE},
}


def product_set_status(*, product: Product, status: str) -> Product:
    with transaction.atomic():
        product = Product.objects.select_for_update().select_related("shop").get(pk=product.pk)
        if status not in _STATUS_TRANSITIONS.get(product.status, set()):
            raise ConflictError(f"A {product.get_status_display().lower()} product cannot become {status}.")
        if status == Product.Status.ACTIVE and not product.shop.is_open:
            raise ConflictError("A suspended shop cannot publish products.")
        product.status = status
        product.save(update_fields=["status", "updated_at"])
        catalog_changed()
    return product


# --- Variants and stock -----------------------------------------------------------------


def variant_create(*, product: Product, name: str, sku: str, price_minor: int, stock: int) -> Variant:
    _price_check(price_minor)
    if stock < 0:
        raise DomainError("Stock cannot be negative.", field="stock")
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product.pk)
        if product.variants.filter(sku=sku).exists():
            raise DomainError("This product already has a variant with that SKU.", field="sku")
        position = (product.variants.aggregate(m=Max("position"))["m"] or 0) + 1
        variant = Variant.objects.create(
            product=product, name=name.strip(), sku=sku.strip(), price_minor=price_minor, stock=stock, position=position
        )
        _product_refresh_derived(product)
    return variant


VARIANT_SOLD = (
    "This variant has been sold, so it cannot be deleted: archive it instead (off sale, kept on past orders)."
)
LAST_ON_SALE = "A product needs at least one variant on sale. Archive the product instead."


def variant_update(*, variant: Variant, **fields) -> Variant:
    if "price_minor" in fields:
        _price_check(fields["price_minor"])
    if fields.get("stock", 0) < 0:
        raise DomainError("Stock cannot be negative.", field="stock")
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=variant.product_id)
        variant = Variant.objects.select_for_update().get(pk=variant.pk)
        if "sku" in fields and product.variants.filter(sku=fields["sku"]).exclude(pk=variant.pk).exists():
            raise DomainError("This product already has a variant with that SKU.", field="sku")
        # Archiving (is_active=False) takes it off sale for good; past orders keep it.
        if fields.get("is_active") is False and not product.variants.filter(is_active=True).exclude(pk=variant.pk):
            raise ConflictError(LAST_ON_SALE, code="last_variant")
        for name, value in fields.items():
            setattr(variant, name, value)
        variant.save()
        _product_refresh_derived(product)
    return variant


def variant_delete(*, variant: Variant) -> None:
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=variant.product_id)
        if product.variants.count() <= 1:
            raise ConflictError("A product needs at least one variant.")
        try:
            variant.delete()
        except ProtectedError:  # order lines keep it (PROTECT); raised before anything is deleted
            raise ConflictError(VARIANT_SOLD, code="variant_sold") from None
        _product_refresh_derived(product)


# --- Photos -----------------------------------------------------------------------------


def product_photo_add(*, product: Product, upload) -> ProductPhoto:
    """Validate and re-encode the upload now (so the person sees any error at once);
    renditions follow in a Celery task."""
    from shops.tasks import product_photo_render_task

    encoded = image_intake(upload)
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product.pk)
        count = product.photos.count()
        if count >= MAX_PHOTOS_PER_PRODUCT:
            raise ConflictError(f"A product can have at most {MAX_PHOTOS_PER_PRODUCT} photos.")
        position = (product.photos.aggregate(m=Max("position"))["m"] or 0) + 1
        photo = ProductPhoto(product=product, position=position, width=encoded.width, height=encoded.height)
        photo.original.save(f"p{product.pk}.jpg", ContentFile(encoded.content), save=False)
        photo.save()
        _product_refresh_derived(product)
        transaction.on_commit(lambda: product_photo_render_task.delay(photo.pk))
    return photo


def product_photo_render(*, photo_id: int) -> ProductPhoto | None:
    """Make the renditions of one photo. Safe to run twice: a ready photo is left alone."""
    photo = ProductPhoto.objects.filter(pk=photo_id).first()
    if photo is None or photo.status == ProductPhoto.Status.READY:
        return photo
    with photo.original.open("rb") as fh:
        original = fh.read()
    renditions = image_renditions(original)
    names = {}
    for name, content in renditions.items():
        field = getattr(photo, name)
        names[name] = field.storage.save(
            field.field.generate_filename(photo, f"p{photo.product_id}-{name}.jpg"), ContentFile(content)
        )
    # Claim with a conditional UPDATE: a concurrent run that lost the race deletes its files.
    updated = ProductPhoto.objects.filter(pk=photo_id, status=ProductPhoto.Status.PENDING).update(
        status=ProductPhoto.Status.READY, **names
    )
    if updated:
        catalog_changed()
    else:
        for name, stored in names.items():
            getattr(photo, name).storage.delete(stored)
    photo.refresh_from_db()
    return photo


def product_photo_delete(*, photo: ProductPhoto) -> None:
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=photo.product_id)
        files = [f for f in (photo.original, photo.thumb, photo.card, photo.full) if f]
        photo.delete()
        _product_refresh_derived(product)
        transaction.on_commit(lambda: [f.storage.delete(f.name) for f in files])


def product_photos_reorder(*, product: Product, photo_ids: list[int]) -> None:
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product.pk)
        existing = set(product.photos.values_list("id", flat=True))
        if set(photo_ids) != existing or len(photo_ids) != len(existing):
            raise DomainError("The new order must list each photo of this product exactly once.")
        for position, photo_id in enumerate(photo_ids, start=1):
            ProductPhoto.objects.filter(pk=photo_id).update(position=position)
        _product_refresh_derived(product)


# --- Categories -------------------------------------------------------------------------


def category_create(*, name: str, parent: Category | None = None, slug: str = "") -> Category:
    return Category.objects.create(name=name, parent=parent, slug=slug or slugify(name))
