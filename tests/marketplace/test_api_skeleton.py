import pytest
from django.urls import path
from rest_framework import generics, serializers
from rest_framework.test import APIClient

from marketplace.api import OwnerScopedMixin
from shops.models import Shop
from tests.factories import PASSWORD, UserFactory, make_shop

pytestmark = pytest.mark.django_db


class _ShopSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class _MyShopApi(OwnerScopedMixin, generics.RetrieveAPIView):
    queryset = Shop.objects.all()
    serializer_class = _ShopSerializer
    owner_lookup = "owner"


urlpatterns = [path("my-shops/<int:pk>/", _MyShopApi.as_view())]


def test_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/products/" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_token_auth_round_trip(api_client):
    user = UserFactory()
    response = api_client.post("/api/v1/auth/token/", {"email": user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert other.get("/api/v1/merchant/shop/").status_code == 404  # authenticated, but has no shop


def test_a_wrong_password_gets_a_readable_error(api_client, user):
    response = api_client.post("/api/v1/auth/token/", {"email": user.email, "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "status": 400,
            "code": "invalid",
            "fields": {"non_field_errors": ["The email or password is not right."]},
            "message": "Some of the input is not valid: non_field_errors: The email or password is not right.",
        }
    }


def test_malformed_json_is_a_400_with_a_message(api_client):
    response = api_client.post("/api/v1/auth/token/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert "JSON parse error" in response.json()["error"]["message"]


def test_unauthenticated_writes_get_401_in_the_error_format(api_client):
    response = api_client.post("/api/v1/merchant/products/", {}, format="json")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["message"] == "Authentication credentials were not provided."


def test_unknown_api_object_is_404_in_the_error_format(api_client):
    response = api_client.get("/api/v1/products/999999/")
    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "code": "not_found", "message": "Not found."}}


def test_list_endpoints_use_cursor_pagination(api_client):
    response = api_client.get("/api/v1/products/")
    assert response.status_code == 200
    assert set(response.json()) == {"next", "previous", "results"}


@pytest.mark.urls(__name__)
def test_owner_scoped_mixin_hides_other_owners_rows_as_404():
    # given two shops with different owners
    mine, theirs = make_shop(), make_shop()
    client = APIClient()
    client.force_authenticate(mine.owner)
    # then my own shop is visible and theirs is a 404, not a 403
    assert client.get(f"/my-shops/{mine.pk}/").status_code == 200
    assert client.get(f"/my-shops/{theirs.pk}/").status_code == 404
    # and an anonymous caller sees nothing
    assert APIClient().get(f"/my-shops/{mine.pk}/").status_code in (401, 403, 404)
