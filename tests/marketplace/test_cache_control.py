"""Answers that may carry personal data are never stored by a cache."""

import pytest
from django.urls import reverse

from tests.factories import make_product

pytestmark = pytest.mark.django_db


def _directives(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


@pytest.mark.parametrize("path", ["/", "/me/", "/orders/", "/cart/"])
def test_pages_for_a_signed_in_user_are_private_and_not_stored(user_client, path):
    response = user_client.get(path)
    assert response.status_code == 200, path
    assert {"private", "no-store"} <= _directives(response)


def test_api_answers_for_a_token_user_are_private_and_not_stored(api_client, user, password):
    # given a token from the API
    token = api_client.post("/api/v1/auth/token/", {"email": user.email, "password": password}, format="json")
    assert {"private", "no-store"} <= _directives(token)
    # when the user's orders are read with it
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    response = api_client.get("/api/v1/orders/")
    # then the answer is not stored either
    assert response.status_code == 200
    assert {"private", "no-store"} <= _directives(response)


def test_public_catalog_pages_for_a_visitor_stay_cacheable(client):
    # control: a visitor without a session gets no private marker on the catalog
    product = make_product()
    response = client.get(reverse("product_detail", args=[product.pk]))
    assert response.status_code == 200
    assert "no-store" not in _directives(response)
