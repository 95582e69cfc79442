"""Inputs that used to answer 500 now get a 4xx that says why."""

import pytest
from rest_framework.test import APIClient

from shops.models import Variant
from tests.factories import make_shop
from tests.helpers import paid_sale

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/search/?q=%00",
        "/search/?q=tea%00leaf",
        "/products/?min_price=%00",
        "/api/v1/products/?category=%00",
        "/api/v1/products/search/?q=%00",
        "/api/v1/products/search/?q=ok&category=a%00b",
        "/search/?%00=1",
    ],
)
def test_a_nul_byte_in_a_query_is_a_400_that_says_why(client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()
    if url.startswith("/api/"):
        assert response.json()["error"]["code"] == "invalid"


@pytest.fixture
def sold(client):
    """A product with two variants, one of them sold; its merchant."""
    shop = make_shop()
    order, _ = paid_sale(client, shop=shop)
    sold_variant = order.lines.get().variant
    Variant.objects.create(product=sold_variant.product, name="Large", sku="L-1", price_minor=12_000, stock=5)
    return sold_variant, shop.owner


def _variant_ids(product_id) -> list[tuple[int, bool]]:
    return list(Variant.objects.filter(product_id=product_id).order_by("id").values_list("id", "is_active"))


def test_deleting_a_sold_variant_on_the_page_is_a_409_saying_archive_it_instead(client, sold):
    variant, merchant = sold
    before = _variant_ids(variant.product_id)
    client.force_login(merchant)
    url = f"/merchant/products/{variant.product_id}/variants/{variant.pk}/delete/"
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "archive it instead" in response.content.decode()
    assert _variant_ids(variant.product_id) == before


def test_deleting_a_sold_variant_through_the_api_is_a_409_saying_archive_it_instead(sold):
    variant, merchant = sold
    before = _variant_ids(variant.product_id)
    api = APIClient()
    api.force_authenticate(merchant)
    response = api.delete(f"/api/v1/merchant/products/{variant.product_id}/variants/{variant.pk}/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "variant_sold"
    assert "archive it instead" in response.json()["error"]["message"]
    assert _variant_ids(variant.product_id) == before


def test_a_sold_variant_is_archived_on_the_page_and_leaves_the_shop(client, sold):
    variant, merchant = sold
    client.force_login(merchant)
    response = client.post(
        f"/merchant/products/{variant.product_id}/variants/{variant.pk}/archive/", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "Archived" in response.content.decode()
    variant.refresh_from_db()
    assert variant.is_active is False
    # the product's price and stock now come from the variant still on sale
    product = variant.product
    product.refresh_from_db()
    assert (product.price_minor, product.stock_total) == (12_000, 5)
    # and the public product page no longer offers it
    page = client.get(f"/p/{variant.product_id}/").content.decode()
    assert f'value="{variant.pk}"' not in page
    assert f'value="{Variant.objects.get(product_id=variant.product_id, sku="L-1").pk}"' in page


def test_a_sold_variant_is_archived_through_the_api(sold):
    variant, merchant = sold
    api = APIClient()
    api.force_authenticate(merchant)
    response = api.post(f"/api/v1/merchant/products/{variant.product_id}/variants/{variant.pk}/archive/")
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert Variant.objects.get(pk=variant.pk).is_active is False


def test_the_last_variant_on_sale_cannot_be_archived(sold):
    variant, merchant = sold
    Variant.objects.filter(product_id=variant.product_id).exclude(pk=variant.pk).update(is_active=False)
    before = _variant_ids(variant.product_id)
    api = APIClient()
    api.force_authenticate(merchant)
    response = api.post(f"/api/v1/merchant/products/{variant.product_id}/variants/{variant.pk}/archive/")
    assert response.status_code == 409
    assert "Archive the product instead" in response.json()["error"]["message"]
    assert _variant_ids(variant.product_id) == before


def test_another_merchants_variant_cannot_be_archived(sold):
    variant, _ = sold
    api = APIClient()
    api.force_authenticate(make_shop().owner)
    response = api.post(f"/api/v1/merchant/products/{variant.product_id}/variants/{variant.pk}/archive/")
    assert response.status_code == 404
    assert Variant.objects.get(pk=variant.pk).is_active is True
