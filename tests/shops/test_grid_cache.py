import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shops import services
from tests.factories import make_product

pytestmark = pytest.mark.django_db


def test_a_cached_grid_serves_without_queries_and_any_catalog_change_retires_it(client):
    # given a listing that has been rendered once
    product = make_product(title="Oolong", price_minor=5000)
    assert "¥50.00" in client.get("/products/").content.decode()

    # then the next request is served from the cache, without SQL
    with CaptureQueriesContext(connection) as ctx:
        body = client.get("/products/").content.decode()
    assert "¥50.00" in body
    assert len(ctx.captured_queries) == 0

    # when the merchant changes the price
    services.product_update(product=product, price_minor=4200)

    # then the very next request shows it
    assert "¥42.00" in client.get("/products/").content.decode()


def test_the_api_list_is_retired_by_a_change_too(api_client):
    product = make_product(title="Oolong")
    assert [p["title"] for p in api_client.get("/api/v1/products/").json()["results"]] == ["Oolong"]
    services.product_set_status(product=product, status="archived")
    assert api_client.get("/api/v1/products/").json()["results"] == []
