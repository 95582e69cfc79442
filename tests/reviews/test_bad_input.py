"""Bad input: 0 or 6 stars, 1,001 characters, a seventh photo, a non-image photo, someone
else's line through the API. Each a clear 4xx, nothing stored."""

import pytest

from reviews.models import Review, ReviewPhoto
from reviews.tasks import review_photo_render_task
from tests.factories import UserFactory, make_shop
from tests.helpers import REVIEW, not_an_image, planted_line, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def line():
    return planted_line(shop=make_shop())


def _nothing_stored():
    assert not Review.objects.exists()
    assert not ReviewPhoto.objects.exists()


BAD = [
    ({"stars": 0}, "stars", "choose 1 to 5 stars, not 0"),
    ({"stars": 6}, "stars", "choose 1 to 5 stars, not 6"),
    ({"score_shipping": 6}, "score_shipping", "Shipping speed: choose 1 to 5 stars, not 6"),
    ({"text": "x" * 1001}, "text", "too long: 1,001 characters, at most 1,000"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD)
def test_the_api_refuses_bad_scores_and_text(api_client, line, change, field, message):
    api_client.force_authenticate(line.order.buyer)
    response = api_client.post("/api/v1/reviews/", {**REVIEW, **change, "line_id": line.pk}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in error["message"] and message in error["fields"][field][0]
    _nothing_stored()


@pytest.mark.parametrize(("change", "field", "message"), BAD)
def test_the_page_refuses_bad_scores_and_text(client, line, change, field, message):
    client.force_login(line.order.buyer)
    response = client.post(f"/reviews/new/{line.pk}/", {**REVIEW, **change})
    assert response.status_code == 400
    assert "choose 1 to 5 stars" in response.content.decode() or "at most 1,000 characters" in response.content.decode()
    _nothing_stored()


def test_a_seventh_photo_is_refused(api_client, client, line):
    api_client.force_authenticate(line.order.buyer)
    data = {**REVIEW, "line_id": line.pk, "photos": [upload(f"p{i}.jpg") for i in range(7)]}
    response = api_client.post("/api/v1/reviews/", data, format="multipart")
    assert response.status_code == 400
    assert "at most 6 photos" in response.json()["error"]["message"]
    client.force_login(line.order.buyer)
    response = client.post(f"/reviews/new/{line.pk}/", {**REVIEW, "photos": [upload(f"q{i}.jpg") for i in range(7)]})
    assert response.status_code == 400 and "at most 6 photos" in response.content.decode()
    _nothing_stored()


def test_a_non_image_photo_is_refused(api_client, client, line):
    api_client.force_authenticate(line.order.buyer)
    data = {**REVIEW, "line_id": line.pk, "photos": [upload("ok.jpg"), not_an_image("fake.jpg")]}
    response = api_client.post("/api/v1/reviews/", data, format="multipart")
    assert response.status_code == 400
    error = response.json()["error"]
    assert "fake.jpg: This file is not a picture we can read" in error["message"]
    assert error["fields"]["photos"]
    client.force_login(line.order.buyer)
    response = client.post(f"/reviews/new/{line.pk}/", {**REVIEW, "photos": [not_an_image("fake.jpg")]})
    assert response.status_code == 400 and "not a picture we can read" in response.content.decode()
    _nothing_stored()


def test_someone_elses_line_through_the_api_is_not_found(api_client, line):
    api_client.force_authenticate(UserFactory())
    response = api_client.post("/api/v1/reviews/", {**REVIEW, "line_id": line.pk}, format="json")
    assert response.status_code == 404 and response.json()["error"]["message"] == "Not found."
    response = api_client.post("/api/v1/reviews/", {**REVIEW, "line_id": 10**9}, format="json")
    assert response.status_code == 404
    _nothing_stored()


def test_missing_and_mistyped_fields_are_a_clear_400(api_client, line):
    api_client.force_authenticate(line.order.buyer)
    response = api_client.post("/api/v1/reviews/", {"line_id": line.pk, "stars": "five"}, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert {"stars", "score_described", "score_service", "score_shipping"} <= set(fields)
    _nothing_stored()


def test_six_good_photos_go_through_the_product_photo_pipeline(api_client, line):
    api_client.force_authenticate(line.order.buyer)
    data = {**REVIEW, "line_id": line.pk, "photos": [upload(f"p{i}.jpg") for i in range(6)]}
    response = api_client.post("/api/v1/reviews/", data, format="multipart")
    assert response.status_code == 201
    photos = list(ReviewPhoto.objects.order_by("position"))
    assert [p.position for p in photos] == [1, 2, 3, 4, 5, 6]
    assert all(p.status == "pending" for p in photos)
    review_photo_render_task.apply(args=[photos[0].pk])
    photos[0].refresh_from_db()
    assert photos[0].status == "ready" and photos[0].thumb.name.endswith(".jpg")
    with photos[0].original.open("rb") as fh:
        assert b"Exif" not in fh.read()[:4096]
