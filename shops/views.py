"""Buyer-facing catalog pages."""

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from disputes import selectors as dispute_selectors
from marketplace.money import MoneyError, money_parse
from reviews import selectors as review_selectors
from shops import selectors
from shops.models import Category
from shops.services import GRID_TTL, catalog_cache_get, catalog_cache_key, catalog_cache_set

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def _page(request, queryset):
    try:
        size = int(request.GET.get("page_size", DEFAULT_PAGE_SIZE))
    except ValueError:
        size = DEFAULT_PAGE_SIZE
    size = min(max(size, 1), MAX_PAGE_SIZE)
    return Paginator(queryset, size).get_page(request.GET.get("page"))


def _filters(request) -> tuple[dict, list[str]]:
    """Price filters and sort from the query string; bad values are reported, not fatal."""
    filters: dict = {}
    errors: list[str] = []
    for key, label in (("min_price", "Minimum price"), ("max_price", "Maximum price")):
        raw = request.GET.get(key, "").strip()
        if raw:
            try:
                filters[key] = money_parse(raw)
            except MoneyError as exc:
                errors.append(f"{label}: {exc}")
    sort = request.GET.get("sort", "")
    if sort in selectors.SORTS or sort in ("relevance", "rating"):
        filters["sort"] = sort
    return filters, errors


def _best_rated(filters: dict, queryset):
    # "Best rated" is a reviews ranking (Bayesian average); the catalog cannot import reviews.
    return review_selectors.products_order_best_rated(queryset) if filters.get("sort") == "rating" else queryset


@require_GET
def home(request):
    context = {
        "featured": list(selectors.product_list_public(featured=True)[:8]),
        "new_products": list(selectors.product_list_public()[:20]),
        "shops": list(selectors.shop_list_public()[:12]),
    }
    return render(request, "shops/home.html", context)


def _grid(request, queryset_factory, empty: str = "Nothing here yet.") -> tuple[str, object | None]:
    """The product grid with its pagination, as HTML, cached per catalog version and query.

    A hit costs two Redis reads instead of two SQL queries and twenty card renders. Any
    catalog write bumps the version (shops.services.catalog_changed), so a suspended shop
    or an archived product leaves the grid at once; stock badges may lag by GRID_TTL.
    Returns (html, page); page is None on a cache hit.
    """
    key = catalog_cache_key(request.path, request.GET)
    html = catalog_cache_get(key)
    if html is not None:
        return mark_safe(html), None  # noqa: S308 - our own rendered template, from our cache
    page = _page(request, queryset_factory())
    html = render_to_string("shops/_grid.html", {"page": page, "request": request, "empty": empty})
    catalog_cache_set(key, str(html), GRID_TTL)
    return html, page


@require_GET
def product_list(request, category_slug: str | None = None):
    filters, errors = _filters(request)
    category = None
    if category_slug:
        category = get_object_or_404(Category, slug=category_slug)
        filters["category_ids"] = selectors.category_descendant_ids(category)
    grid, page = _grid(request, lambda: _best_rated(filters, selectors.product_list_public(**filters)))
    return render(
        request,
        "shops/product_list.html",
        {
            "grid": grid,
            "page": page,
            "category": category,
            "errors": errors,
            "title": category.name if category else "All products",
        },
    )


@require_GET
def search(request):
    filters, errors = _filters(request)
    text = request.GET.get("q", "")
    category_slug = request.GET.get("category", "")
    categories = list(selectors.category_list())
    if category_slug:
        match = next((c for c in categories if c.slug == category_slug), None)
        if match:
            filters["category_ids"] = [match.pk] + [c.pk for c in categories if c.parent_id == match.pk]
    empty = f"No products match “{text.strip()}”. Try fewer or different words." if text.strip() else "No products."
    grid, page = _grid(
        request, lambda: _best_rated(filters, selectors.product_search(text=text, **filters)), empty=empty
    )
    return render(
        request,
        "shops/search.html",
        {
            "grid": grid,
            "page": page,
            "q": text,
            "errors": errors,
            "categories": categories,
            "category_slug": category_slug,
        },
    )


@require_GET
def product_detail(request, product_id: int):
    product = selectors.product_get_public(product_id=product_id)
    variants = list(product.variants.all())
    product_rating, shop_rating = review_selectors.rating_for_product_page(product=product)
    credit = review_selectors.credit_latest(shop_id=product.shop_id)
    return render(
        request,
        "shops/product_detail.html",
        {
            "product": product,
            "variants": variants,
            "photos": list(product.photos.all()),
            "purchasable": product.status == "active" and product.shop.is_open and any(v.stock > 0 for v in variants),
            "product_rating": product_rating,
            "shop_rating": shop_rating,
            "shop_credit_level": review_selectors.LEVEL_NAMES[credit.level if credit else 0],
            "shop_trusted": bool(credit and credit.is_trusted),
            "product_reviews": review_selectors.with_photo_urls(
                review_selectors.review_list(product_id=product.pk)[:5]
            ),
        },
    )


@require_GET
def shop_detail(request, slug: str):
    shop = selectors.shop_get_public(slug=slug)
    sanctions = dispute_selectors.sanctions_in_force(shop=shop)
    page = _page(
        request,
        selectors.product_list_public(shop=shop) if shop.is_open else selectors.product_list_public(shop=shop).none(),
    )
    return render(
        request,
        "shops/shop_detail.html",
        {
            "shop": shop,
            "page": page,
            "sanctions": sanctions,
            "card": review_selectors.trust_card(shop=shop, sanctions=sanctions),
        },
    )
