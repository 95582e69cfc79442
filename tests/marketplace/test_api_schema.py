"""The published schema against real answers, and the inputs that used to get 500s or be
silently taken: NUL bytes, huge numbers, wrong JSON types, `page_size=null`, prices as numbers."""

import json
import uuid

import pytest
from django.core.signals import request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.core.failures import Failure, FailureGroup
from werkzeug.test import Client as WsgiClient

from marketplace.schema import text_pattern
from orders.models import OrderGroup
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import as_user, race
from tests.marketplace.api_world import api_schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def wsgi():
    # The WSGI handler would close the test's connection in its transaction (see the
    # Schemathesis test); the test client does the same.
    request_started.disconnect(close_old_connections)
    yield WsgiClient(get_wsgi_application())
    request_started.connect(close_old_connections)


def _answer(status: int, body):
    """An answer as a server that breaks its word would give it."""

    def app(environ, start_response):
        start_response(f"{status} Answer", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    return WsgiClient(app).get("/api/v1/orders/")


# --- The schema matches what the API answers ---------------------------------------------


def test_real_answers_match_the_schema(wsgi):
    # given a buyer with a cart and a product on sale
    buyer = UserFactory()
    product = make_product(price_minor=1250)
    token = Token.objects.create(user=buyer).key
    auth = {"Authorization": f"Token {token}"}
    wsgi.post("/api/v1/cart/items/", json={"variant_id": product.variants.get().pk, "quantity": 1}, headers=auth)
    schema = api_schema()

    # when the catalog, the cart and an error are asked for, then each answer is as documented
    for method, path, url in [
        ("GET", "/api/v1/products/{product_id}/", f"/api/v1/products/{product.pk}/"),
        ("GET", "/api/v1/cart/", "/api/v1/cart/"),
        ("GET", "/api/v1/orders/", "/api/v1/orders/"),
        ("GET", "/api/v1/products/{product_id}/", "/api/v1/products/999999999/"),
    ]:
        response = wsgi.open(url, method=method, headers=auth)
        assert response.status_code in (200, 404), response.get_data()
        schema[path][method].validate_response(response)  # raises on any mismatch


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ([{"id": 1}], "a bare array where the schema promises {'results': [...]}"),
        ({"results": [{"id": 1, "total": 12.5}]}, "an order without its fields, money as a number"),
    ],
)
def test_an_answer_that_breaks_the_schema_fails_validation(body, what):
    # given the documented answer of the buyer's order list
    operation = api_schema()["/api/v1/orders/"]["GET"]

    # when an answer of another shape is checked, then it is refused
    with pytest.raises((Failure, FailureGroup)):
        operation.validate_response(_answer(200, body))
    # and the control: the documented envelope passes
    operation.validate_response(_answer(200, {"results": []}))


def test_every_error_status_is_documented_in_the_one_error_format():
    # given the schema of a merchant write
    raw = api_schema().raw_schema
    responses = raw["paths"]["/api/v1/merchant/orders/{order_id}/ship/"]["post"]["responses"]

    # then its refusals are listed, each in the error format
    assert set(responses) == {"200", "400", "403", "404", "409", "415"}
    for status in ("400", "403", "404", "409", "415"):
        assert responses[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_field_rules_are_in_the_schema():
    components = api_schema().raw_schema["components"]["schemas"]
    after_sales = components["RequestCreateInJsonRequest"]["properties"]
    ship = components["ShipInRequest"]["properties"]
    product = components["ProductInRequest"]["properties"]

    assert after_sales["description"]["pattern"] == text_pattern(
        min_length=10, max_length=2000, trim=True, allow_blank=False
    )
    assert (ship["tracking_number"]["minLength"], ship["tracking_number"]["maxLength"]) == (4, 60)
    assert ship["tracking_number"]["pattern"] == "^-*[A-Za-z0-9][A-Za-z0-9\\-]*$"
    assert product["price"]["type"] == "string"
    assert product["price"]["pattern"].startswith("^(?:[1-9]")


# --- Bad input gets a clear 4xx -----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/products/?category=%00",
        "/api/v1/products/search/?q=%00",
        "/api/v1/products/?min_price=%00",
        "/api/v1/shops/?page_size=null",
        "/api/v1/products/?page_size=0",
        "/api/v1/products/?page_size=101",
        "/api/v1/products/search/?limit=null",
        "/api/v1/products/search/?offset=-1",
        "/api/v1/products/?min_price=12.505",
        "/api/v1/products/?max_price=99999999999999999999",
    ],
)
def test_a_bad_query_is_a_400_in_the_error_format(url):
    response = APIClient().get(url)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"
    assert response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "url", ["/api/v1/products/99999999999999999999999/", "/api/v1/products/-1/", "/api/v1/no-such-thing/"]
)
def test_an_unknown_api_path_is_a_json_404(url):
    response = APIClient().get(url)
    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "code": "not_found", "message": "Not found."}}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"variant_id": "1", "quantity": 1}, "variant_id", "A valid integer is required."),
        ({"variant_id": 1, "quantity": True}, "quantity", "A valid integer is required."),
        ({"variant_id": 1, "quantity": "2"}, "quantity", "A valid integer is required."),
        ({"variant_id": 10**30, "quantity": 1}, None, "This item cannot be bought right now."),
        ({"variant_id": 1, "quantity": 10**30}, "quantity", None),
        ({"variant_id": [1], "quantity": 1}, "variant_id", "A valid integer is required."),
    ],
)
def test_wrong_types_and_huge_numbers_in_json_are_a_400(body, field, message):
    # given a buyer
    api = as_user(UserFactory())

    # when the cart gets a body of the wrong types
    response = api.post("/api/v1/cart/items/", body, format="json")

    # then it is refused (field by field where a field is at fault), and nothing is stored
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    if field:
        assert field in error["fields"]
    if field and message:
        assert error["fields"][field] == [message]
    elif message:
        assert error["message"] == message
    assert api.get("/api/v1/cart/").json() == {"items": []}


def test_a_nul_byte_in_json_text_is_a_400():
    merchant = make_shop().owner
    response = as_user(merchant).patch("/api/v1/merchant/shop/", {"name": "Tea\u0000House"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["name"] == ["Null characters are not allowed."]


def test_a_price_sent_as_a_json_number_is_refused():
    # given a merchant
    merchant = make_shop().owner
    body = {"title": "Linen T-shirt", "price": 89.5, "commission_bps": 1000, "stock": 3}

    # when a product's price comes as a JSON number
    response = as_user(merchant).post("/api/v1/merchant/products/", body, format="json")

    # then it is refused with the way to send it, and no product is made
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["price"] == ['Send the amount as a string, such as "12.50".']
    assert not merchant.shop.products.exists()


def test_a_text_field_sent_as_a_number_is_refused():
    merchant = make_shop().owner
    response = as_user(merchant).patch("/api/v1/merchant/shop/", {"shipping_regions": 5}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["shipping_regions"] == ["Not a valid string."]


def test_forms_keep_their_text_conversions():
    # given a buyer posting a multipart form, where every value is text
    api = as_user(UserFactory())
    variant = make_product().variants.get()

    # when the cart gets "2" as the quantity, then it is taken as a number
    response = api.post("/api/v1/cart/items/", {"variant_id": str(variant.pk), "quantity": "2"}, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["quantity"] == 2


def test_nested_errors_read_as_sentences():
    api = as_user(UserFactory())
    response = api.post("/api/v1/cart/prices/accept/", {"items": [{"variant_id": 1, "price": 5}]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["items"] == [
        'Item 1: price: Send the amount as a string, such as "12.50".'
    ]


# --- Repeated checkouts: 201 once, 200 after -----------------------------------------------

CHECKOUT = {"name": "Li Lei", "phone": "13800000000", "address": "1 Garden Road", "city": "Hangzhou"}


def test_a_repeated_checkout_answers_201_then_200_with_the_same_group():
    # given a buyer with a cart
    buyer = UserFactory()
    api = as_user(buyer)
    api.post("/api/v1/cart/items/", {"variant_id": make_product().variants.get().pk, "quantity": 1}, format="json")
    body = {**CHECKOUT, "idempotency_key": uuid.uuid4().hex}

    # when the same checkout is posted twice
    first = api.post("/api/v1/checkout/", body, format="json")
    second = api.post("/api/v1/checkout/", body, format="json")

    # then the first placed the group (201) and the repeat got the same one (200)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert OrderGroup.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_checkouts_answer_201_to_one_caller_only():
    # given a buyer with a cart and one idempotency key
    buyer = UserFactory()
    token = Token.objects.create(user=buyer).key
    variant = make_product(stock=10).variants.get()
    as_user(buyer).post("/api/v1/cart/items/", {"variant_id": variant.pk, "quantity": 2}, format="json")
    body = {**CHECKOUT, "idempotency_key": uuid.uuid4().hex}

    def submit(_):
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        response = api.post("/api/v1/checkout/", body, format="json")
        return response.status_code, response.json().get("id")

    # when eight connections post it at once
    answers = race(8, submit)

    # then one placed the group, the other seven got it back, and there is one group
    assert sorted(status for status, _ in answers) == [200] * 7 + [201], answers
    assert {group_id for _, group_id in answers} == {OrderGroup.objects.get().pk}
    variant.refresh_from_db()
    assert variant.stock == 8
