"""P2: a page costs the same number of queries whatever its size."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from shops import services
from tests.factories import make_product, make_shop

pytestmark = pytest.mark.django_db

# The product page: product, variants, photos, then the reviews section (P2-product-reviews):
# product and shop ratings, the shop's credit level, the first reviews with their photos.
LIMITS = {"list": 3, "search": 3, "product": 6}


def _photo():
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (9, 9, 9)).save(out, "JPEG")
    return SimpleUploadedFile("p.jpg", out.getvalue(), content_type="image/jpeg")


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


def test_listing_and_search_pages_cost_the_same_at_every_page_size(client):
    shop = make_shop()
    for i in range(100):
        product = make_product(shop=shop, title=f"Green tea {i}")
        if i % 10 == 0:
            services.product_photo_add(product=product, upload=_photo())
    counts = {
        kind: {size: _count(client, url.format(size=size)) for size in (1, 20, 100)}
        for kind, url in {
            "list": "/products/?page_size={size}",
            "search": "/search/?q=green+tea&page_size={size}",
        }.items()
    }
    for kind, by_size in counts.items():
        assert len(set(by_size.values())) == 1, (kind, by_size)
        assert by_size[20] <= LIMITS[kind], (kind, by_size)


def test_the_product_page_costs_the_same_with_1_20_or_100_variants_and_photos(client):
    counts = {}
    for size in (1, 20, 100):
        product = make_product(title=f"Tea set {size}")
        for i in range(size - 1):
            services.variant_create(product=product, name=f"V{i}", sku=f"S{size}-{i}", price_minor=1000 + i, stock=1)
        for _ in range(min(size, 20)):
            services.product_photo_add(product=product, upload=_photo())
        counts[size] = _count(client, product.get_absolute_url())
    assert len(set(counts.values())) == 1, counts
    assert counts[20] <= LIMITS["product"], counts


def test_a_query_per_row_would_be_caught(client):
    """Control: touching a relation per item (an N+1) changes the count with the size."""
    from shops.models import Product

    for i in range(20):
        make_product(title=f"Item {i}")
    with CaptureQueriesContext(connection) as one:
        [p.shop.name for p in Product.objects.all()[:1]]
    with CaptureQueriesContext(connection) as twenty:
        [p.shop.name for p in Product.objects.all()[:20]]
    assert len(twenty.captured_queries) > len(one.captured_queries)
