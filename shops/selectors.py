"""Reads of shops and the catalog, each with a fixed number of queries."""

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F, FloatField, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.shortcuts import get_object_or_404

from shops.models import Category, Product, ProductPhoto, Shop, Variant
from shops.search import FUZZY_THRESHOLD, trigrams

SORTS = {
    "new": ("-created_at", "-id"),
    "price_asc": ("price_minor", "id"),
    "price_desc": ("-price_minor", "-id"),
}


def _listable() -> QuerySet[Product]:
    """Products a buyer may see in browse: active, from a shop that is not suspended."""
    return (
        Product.objects.filter(status=Product.Status.ACTIVE, shop__status=Shop.Status.ACTIVE)
        .select_related("shop", "cover_photo")
        .only(
            "id", "title", "price_minor", "compare_at_price_minor", "stock_total", "created_at",
            "shop__id", "shop__name", "shop__slug", "shop__is_verified",
            "cover_photo__id", "cover_photo__status", "cover_photo__card", "cover_photo__thumb",
        )
    )  # fmt: skip


def category_descendant_ids(category: Category) -> list[int]:
    """The category and everything below it (one query: the whole tree is small)."""
    children: dict[int | None, list[int]] = {}
    for cid, parent_id in Category.objects.values_list("id", "parent_id"):
        children.setdefault(parent_id, []).append(cid)
    found, stack = [], [category.pk]
    while stack:
        cid = stack.pop()
        found.append(cid)
        stack.extend(children.get(cid, []))
    return found


def product_list_public(
    *,
    category_ids: list[int] | None = None,
    shop: Shop | None = None,
    min_price: int | None = None,
    max_price: int | None = None,
    sort: str = "new",
    featured: bool = False,
) -> QuerySet[Product]:
    qs = _listable()
    if category_ids:
        qs = qs.filter(category_id__in=category_ids)
    if shop is not None:
        qs = qs.filter(shop=shop)
    if min_price is not None:
        qs = qs.filter(price_minor__gte=min_price)
    if max_price is not None:
        qs = qs.filter(price_minor__lte=max_price)
    if featured:
        qs = qs.filter(is_featured=True)
    return qs.order_by(*SORTS.get(sort, SORTS["new"]))


def product_search(
    *,
    text: str,
    category_ids: list[int] | None = None,
    min_price: int | None = None,
    max_price: int | None = None,
    sort: str = "relevance",
) -> QuerySet[Product]:
    """Full-text match on title and description, or a fuzzy title match for typos."""
    qs = product_list_public(category_ids=category_ids, min_price=min_price, max_price=max_price)
    text = text.strip()[:100]
    if not text:
        return qs.order_by(*SORTS.get(sort, SORTS["new"]))
    query = SearchQuery(text, search_type="websearch", config="english")
    grams = trigrams(text)
    # Share of the query's trigrams found in the title (like pg_trgm's word similarity).
    fuzzy = RawSQL(
        "(SELECT count(*) FROM unnest(shops_product.title_trigrams) t WHERE t = ANY(%s::varchar[]))"
        "::float / GREATEST(cardinality(%s::varchar[]), 1)",
        (grams, grams),
        output_field=FloatField(),
    )
    qs = qs.annotate(rank=SearchRank(F("search_vector"), query), fuzzy=fuzzy).filter(
        Q(search_vector=query) | Q(title_trigrams__overlap=grams, fuzzy__gte=FUZZY_THRESHOLD)
    )
    if sort in SORTS:
        return qs.order_by(*SORTS[sort])
    return qs.order_by(F("rank").desc(), F("fuzzy").desc(), "-id")


def product_get_public(*, product_id: int) -> Product:
    """A product page: product with shop and category, its variants, its photos (3 queries)."""
    qs = (
        Product.objects.filter(status__in=[Product.Status.ACTIVE, Product.Status.ARCHIVED])
        .select_related("shop", "category", "shop__owner")
        .prefetch_related(
            Prefetch("variants", queryset=Variant.objects.filter(is_active=True)),
            Prefetch("photos", queryset=ProductPhoto.objects.order_by("position", "id")),
        )
    )
    return get_object_or_404(qs, pk=product_id)


def shop_get_public(*, slug: str) -> Shop:
    return get_object_or_404(Shop.objects.select_related("owner"), slug=slug)


def shop_list_public() -> QuerySet[Shop]:
    return Shop.objects.filter(status=Shop.Status.ACTIVE).order_by("-is_verified", "-created_at")


def category_list() -> QuerySet[Category]:
    return Category.objects.all()


# --- Merchant side: always scoped to the owner's shop ----------------------------------


def merchant_product_list(*, shop: Shop, status: str | None = None) -> QuerySet[Product]:
    qs = Product.objects.filter(shop=shop).select_related("cover_photo", "category")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-updated_at", "-id")


def merchant_product_get(*, shop: Shop, product_id: int) -> Product:
    """Another shop's product id is a 404, never a 403."""
    qs = Product.objects.filter(shop=shop).prefetch_related(
        Prefetch("variants", queryset=Variant.objects.order_by("position", "id")),
        Prefetch("photos", queryset=ProductPhoto.objects.order_by("position", "id")),
    )
    return get_object_or_404(qs, pk=product_id)


def merchant_low_stock(*, shop: Shop, threshold: int = 5) -> QuerySet[Variant]:
    return (
        Variant.objects.filter(product__shop=shop, is_active=True, stock__lte=threshold)
        .exclude(product__status=Product.Status.ARCHIVED)
        .select_related("product")
        .order_by("stock", "id")
    )
