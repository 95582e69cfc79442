"""Every merchant page and API endpoint that takes an id answers 404 for another shop's id.

The endpoints are found by walking the URL configuration, so a new one is covered (or
fails here, if it takes an id this test cannot fill) without anyone remembering it."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from PIL import Image
from rest_framework.test import APIClient

from orders.models import Order
from shops import services
from shops.models import Product, ProductPhoto, Variant
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import pay, place

pytestmark = pytest.mark.django_db

KNOWN_IDS = {"product_id", "photo_id", "variant_id", "order_id"}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _merchant_routes():
    routes = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if not (route.startswith("merchant/") or route.startswith("api/v1/merchant/")):
            continue
        kwargs = set(pattern.pattern.converters)
        if not kwargs:
            continue
        unknown = kwargs - KNOWN_IDS
        assert not unknown, f"{route} takes {unknown}: teach this test how to fill it"
        routes.append((route, kwargs))
    return routes


def _jpeg() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (50, 50), (1, 2, 3)).save(out, "JPEG")
    return SimpleUploadedFile("x.jpg", out.getvalue(), content_type="image/jpeg")


@pytest.fixture
def world(client):
    mine = make_shop()
    theirs = make_shop()
    my_product = make_product(shop=mine)
    their_product = make_product(shop=theirs)
    services.variant_create(product=their_product, name="Blue", sku="B-1", price_minor=1500, stock=3)
    services.product_photo_add(product=their_product, upload=_jpeg())
    their_order = pay(client, place(UserFactory(), (their_product.variants.first(), 1))).orders.get()
    return {
        "me": mine.owner,
        "mine": {"product_id": my_product.pk},
        "theirs": {
            "product_id": their_product.pk,
            "photo_id": their_product.photos.get().pk,
            "variant_id": their_product.variants.first().pk,
            "order_id": their_order.pk,
        },
    }


def _snapshot():
    return (
        list(Product.objects.order_by("pk").values()),
        list(Variant.objects.order_by("pk").values()),
        list(ProductPhoto.objects.order_by("pk").values("pk", "position", "status")),
        list(Order.objects.order_by("pk").values("pk", "status", "tracking_number")),
    )


def test_the_walk_finds_the_merchant_endpoints():
    routes = {route for route, _ in _merchant_routes()}
    # control: the known endpoints are found, so an empty walk cannot pass silently
    assert "merchant/products/<int:product_id>/" in routes
    assert "api/v1/merchant/products/<int:product_id>/photos/<int:photo_id>/" in routes
    assert "merchant/orders/<int:order_id>/" in routes
    assert len(routes) >= 15


def _fill(route, ids):
    path = route
    for name, value in ids.items():
        path = path.replace(f"<int:{name}>", str(value))
    assert "<" not in path, path
    return "/" + path


def test_another_shops_ids_are_404_on_every_merchant_page(client, world):
    client.force_login(world["me"])
    before = _snapshot()
    for route, kwargs in _merchant_routes():
        if route.startswith("api/"):
            continue
        fillings = [{k: world["theirs"][k] for k in kwargs}]
        if "product_id" in kwargs and len(kwargs) > 1:
            # my product, their photo / variant
            fillings.append({k: world["mine"].get(k, world["theirs"][k]) for k in kwargs})
        for ids in fillings:
            path = _fill(route, ids)
            statuses = {
                method: getattr(client, method)(
                    path, {"status": "archived", "carrier": "X", "tracking_number": "SF123456"}
                ).status_code
                for method in ("get", "post")
            }
            assert set(statuses.values()) <= {404, 405}, (path, statuses)
            assert 404 in statuses.values(), (path, statuses)
    assert _snapshot() == before


def test_another_shops_ids_are_404_on_every_merchant_api_endpoint(world):
    api = APIClient()
    api.force_authenticate(world["me"])
    before = _snapshot()
    body = {"status": "archived", "title": "Hacked", "price": "1.00", "carrier": "X", "tracking_number": "SF123456",
            "name": "x", "sku": "x", "stock": 1}  # fmt: skip
    for route, kwargs in _merchant_routes():
        if not route.startswith("api/"):
            continue
        fillings = [{k: world["theirs"][k] for k in kwargs}]
        if "product_id" in kwargs and len(kwargs) > 1:
            fillings.append({k: world["mine"].get(k, world["theirs"][k]) for k in kwargs})
        for ids in fillings:
            path = _fill(route, ids)
            statuses = {
                m: getattr(api, m)(path, body, format="json").status_code for m in ("get", "post", "patch", "delete")
            }
            assert set(statuses.values()) <= {404, 405}, (path, statuses)
            assert 404 in statuses.values(), (path, statuses)
    assert _snapshot() == before
