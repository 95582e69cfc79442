import pytest

from shops.models import Product, Variant
from tests.factories import make_product

pytestmark = pytest.mark.django_db

GOOD = {
    "title": "Linen shirt",
    "price_minor": "89.00",
    "commission_bps": "10",
    "stock": "5",
    "description": "",
    "weight_grams": "0",
}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("price_minor", "-1", "The amount cannot be negative."),
        ("price_minor", "0", "The amount must be more than zero."),
        ("price_minor", "abc", "&#x27;abc&#x27; is not an amount. Use digits, such as 12.50."),
        ("price_minor", "12.345", "CNY amounts have at most 2 decimals."),
        ("price_minor", "", "This field is required."),
        ("stock", "-1", "Ensure this value is greater than or equal to 0."),
        ("stock", "x", "Enter a whole number."),
        ("commission_bps", "45", "The commission rate must be between 1% and 30%."),
        ("commission_bps", "0.5", "The commission rate must be between 1% and 30%."),
        ("commission_bps", "ten", "Enter a percentage such as 10 or 12.5."),
    ],
)
def test_the_product_form_explains_bad_values_and_creates_nothing(merchant_client, field, value, message):
    response = merchant_client.post("/merchant/products/new/", GOOD | {field: value})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Product.objects.exists()


def test_compare_at_must_exceed_the_price(merchant_client):
    response = merchant_client.post("/merchant/products/new/", GOOD | {"compare_at_price_minor": "80"})
    assert "The compare-at price must be higher than the price." in response.content.decode()
    assert not Product.objects.exists()


def test_a_good_product_form_creates_a_draft_with_a_variant(merchant_client, merchant):
    response = merchant_client.post("/merchant/products/new/", GOOD | {"commission_bps": "12.5"})
    assert response.status_code == 302
    product = Product.objects.get()
    assert (product.price_minor, product.commission_bps, product.status, product.stock_total) == (
        8900,
        1250,
        "draft",
        5,
    )
    assert product.shop == merchant.shop


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"price": "-5"}, "price", "The amount cannot be negative."),
        ({"price": "0"}, "price", "The amount must be more than zero."),
        ({"price": "1.234"}, "price", "CNY amounts have at most 2 decimals."),
        ({"price": "cheap"}, "price", "'cheap' is not an amount. Use digits, such as 12.50."),
        ({"price": 12.5}, "price", 'Send the amount as a string, such as "12.50".'),
        ({"stock": -1}, "stock", "Ensure this value is greater than or equal to 0."),
        ({"stock": "many"}, "stock", "A valid integer is required."),
        ({"commission_bps": 5000}, "commission_bps", "Ensure this value is less than or equal to 3000."),
    ],
)
def test_the_api_explains_bad_values_and_creates_nothing(api_client, merchant, payload, field, message):
    api_client.force_authenticate(merchant)
    body = {"title": "Cap", "price": "10.00", "commission_bps": 1000, "stock": 3} | payload
    response = api_client.post("/api/v1/merchant/products/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"][field] == [message]
    assert not Product.objects.exists()


def test_inline_stock_edit_refuses_negative_stock_and_changes_nothing(merchant_client, merchant):
    product = make_product(shop=merchant.shop, stock=4)
    variant = product.variants.get()
    response = merchant_client.post(
        f"/merchant/products/{product.pk}/variants/{variant.pk}/",
        {"name": variant.name, "sku": variant.sku, "price_minor": "10.00", "stock": "-3"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    variant.refresh_from_db()
    assert variant.stock == 4
    assert Variant.objects.count() == 1
