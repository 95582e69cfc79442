"""Who may review, follow up, reply, edit and delete: each refusal at service, page and API
level, with its message, and nothing changed."""

from datetime import timedelta

import pytest
from django.db import InternalError, transaction
from django.http import Http404

from disputes.models import AfterSalesRequest
from marketplace.errors import ConflictError
from orders import services as order_services
from orders.models import Order
from reviews import services
from reviews.models import Review
from reviews.services import Forbidden
from tests.factories import UserFactory, make_shop
from tests.helpers import clock_freeze
from tests.reviews.helpers import REVIEW, planted_line, received_line

pytestmark = pytest.mark.django_db


def _create(line, buyer=None, **extra):
    return services.review_create(buyer=buyer or line.order.buyer, line_id=line.pk, **{**REVIEW, **extra})


def _refund_line(line, amount):
    AfterSalesRequest.objects.create(
        order=line.order, line=line, shop=line.order.shop, buyer=line.order.buyer, kind="refund_only",
        reason="damaged", description="Broken", amount_minor=amount, status="refunded", refunded_minor=amount,
    )  # fmt: skip


@pytest.fixture
def shop():
    return make_shop()


def test_a_buyer_reviews_a_line_received_through_the_real_flow(client):
    # given a line bought, paid, shipped and confirmed received
    line = received_line(client)
    # when its buyer reviews it
    review = _create(line)
    # then the review is stored once, for that line, product and shop
    assert Review.objects.get() == review
    assert (review.line_id, review.product_id, review.shop_id) == (line.pk, line.product_id, line.order.shop_id)
    assert review.received_at == line.order.received_at
    assert not review.is_via_share and review.connection == ""


def test_it_refuses_a_line_not_yet_received(client):
    line = received_line(client, confirm=False)
    with pytest.raises(ConflictError, match="once you have confirmed you received it"):
        _create(line)
    assert not Review.objects.exists()


def test_it_refuses_another_buyers_line_as_not_found(shop):
    line = planted_line(shop=shop)
    with pytest.raises(Http404):
        _create(line, buyer=UserFactory())
    assert not Review.objects.exists()


def test_it_refuses_a_second_review_of_the_same_line(shop):
    line = planted_line(shop=shop)
    _create(line)
    with pytest.raises(ConflictError, match="already reviewed"):
        _create(line, stars=1)
    assert list(Review.objects.values_list("stars", flat=True)) == [5]


def test_it_refuses_after_the_window(monkeypatch, shop):
    clock = clock_freeze(monkeypatch)
    line = planted_line(shop=shop, received_at=clock.now)
    clock.advance(timedelta(days=15, seconds=1))
    with pytest.raises(ConflictError, match="time to review this item ended"):
        _create(line)
    assert not Review.objects.exists()


def test_the_window_is_open_until_its_last_second(monkeypatch, shop):
    clock = clock_freeze(monkeypatch)
    line = planted_line(shop=shop, received_at=clock.now)
    clock.advance(timedelta(days=15))
    assert _create(line).pk


def test_it_refuses_a_line_refunded_in_full_but_not_one_refunded_in_part(shop):
    full, part = planted_line(shop=shop), planted_line(shop=shop)
    _refund_line(full, full.total_minor)
    _refund_line(part, part.total_minor - 1)
    with pytest.raises(ConflictError, match="refunded in full"):
        _create(full)
    assert _create(part).line_id == part.pk
    assert list(Review.objects.values_list("line_id", flat=True)) == [part.pk]


def test_an_order_refunded_whole_refuses_its_lines(shop):
    line = planted_line(shop=shop)
    Order.objects.filter(pk=line.order_id).update(refunded_minor=1000)
    with pytest.raises(ConflictError, match="refunded in full"):
        _create(line)


def test_one_follow_up_within_180_days(monkeypatch, shop):
    clock = clock_freeze(monkeypatch)
    line = planted_line(shop=shop, received_at=clock.now)
    review = _create(line)
    buyer = line.order.buyer
    with pytest.raises(Forbidden):
        services.review_follow_up(review_id=review.pk, buyer=UserFactory(), text="Mine now")
    services.review_follow_up(review_id=review.pk, buyer=buyer, text="Still good after a month.")
    with pytest.raises(ConflictError, match="already added a follow-up"):
        services.review_follow_up(review_id=review.pk, buyer=buyer, text="Again")
    review.refresh_from_db()
    assert review.followup_text == "Still good after a month."


def test_a_late_follow_up_is_refused(monkeypatch, shop):
    clock = clock_freeze(monkeypatch)
    review = _create(planted_line(shop=shop, received_at=clock.now))
    clock.advance(timedelta(days=180, seconds=1))
    with pytest.raises(ConflictError, match="up to 180 days after receipt"):
        services.review_follow_up(review_id=review.pk, buyer=review.buyer, text="Late")
    review.refresh_from_db()
    assert review.followup_at is None


def test_the_merchant_replies_once_to_the_review_and_once_to_the_follow_up(shop):
    review = _create(planted_line(shop=shop))
    with pytest.raises(Forbidden, match="Only the shop"):
        services.review_reply(review_id=review.pk, merchant=make_shop().owner, text="Not mine")
    with pytest.raises(ConflictError, match="no follow-up"):
        services.review_reply(review_id=review.pk, merchant=shop.owner, text="Early", to_follow_up=True)
    services.review_reply(review_id=review.pk, merchant=shop.owner, text="Thank you!")
    with pytest.raises(ConflictError, match="already replied to this review"):
        services.review_reply(review_id=review.pk, merchant=shop.owner, text="Second")
    services.review_follow_up(review_id=review.pk, buyer=review.buyer, text="Update")
    services.review_reply(review_id=review.pk, merchant=shop.owner, text="Glad!", to_follow_up=True)
    with pytest.raises(ConflictError, match="already replied to this follow-up"):
        services.review_reply(review_id=review.pk, merchant=shop.owner, text="Again", to_follow_up=True)
    review.refresh_from_db()
    assert (review.reply_text, review.followup_reply_text) == ("Thank you!", "Glad!")


def test_a_reply_after_30_days_is_refused(monkeypatch, shop):
    clock = clock_freeze(monkeypatch)
    review = _create(planted_line(shop=shop, received_at=clock.now))
    clock.advance(timedelta(days=30, seconds=1))
    with pytest.raises(ConflictError, match="Replies are possible for 30 days"):
        services.review_reply(review_id=review.pk, merchant=shop.owner, text="Late")
    review.refresh_from_db()
    assert review.reply_at is None


def test_an_edit_after_24_hours_is_refused(monkeypatch, shop):
    clock = clock_freeze(monkeypatch)
    review = _create(planted_line(shop=shop, received_at=clock.now))
    edit = {**REVIEW, "stars": 2, "text": "Changed my mind"}
    clock.advance(timedelta(hours=23))
    services.review_edit(review_id=review.pk, buyer=review.buyer, **edit)
    clock.advance(timedelta(hours=1, seconds=1))
    with pytest.raises(ConflictError, match="can be edited for 24 hours"):
        services.review_edit(review_id=review.pk, buyer=review.buyer, **{**edit, "stars": 1})
    review.refresh_from_db()
    assert (review.stars, review.text) == (2, "Changed my mind")


def test_an_edit_after_a_reply_is_refused(shop):
    review = _create(planted_line(shop=shop))
    services.review_reply(review_id=review.pk, merchant=shop.owner, text="Thanks")
    with pytest.raises(ConflictError, match="replied to this review"):
        services.review_edit(review_id=review.pk, buyer=review.buyer, **{**REVIEW, "stars": 1})
    with pytest.raises(Forbidden):
        services.review_edit(review_id=review.pk, buyer=shop.owner, **{**REVIEW, "stars": 1})
    review.refresh_from_db()
    assert review.stars == 5


def test_nobody_deletes_a_review_not_even_the_database_owner(shop):
    review = _create(planted_line(shop=shop))
    with pytest.raises(InternalError, match="never deleted"), transaction.atomic():
        Review.objects.filter(pk=review.pk).delete()
    assert Review.objects.filter(pk=review.pk).exists()


# --- The same refusals through the pages and the API -------------------------------------------


def _page_post(client, line, **extra):
    return client.post(f"/reviews/new/{line.pk}/", {**REVIEW, **extra})


def test_pages_refuse_with_the_reason_and_store_nothing(client, monkeypatch, shop):
    clock = clock_freeze(monkeypatch)
    unreceived = planted_line(shop=shop, status=Order.Status.SHIPPED, received_at=None)
    late = planted_line(shop=shop, received_at=clock.now - timedelta(days=16))
    refunded = planted_line(shop=shop)
    _refund_line(refunded, refunded.total_minor)
    reviewed = planted_line(shop=shop)
    _create(reviewed)
    cases = [
        (unreceived, 409, "once you have confirmed you received it"),
        (late, 409, "time to review this item ended"),
        (refunded, 409, "refunded in full"),
        (reviewed, 409, "already reviewed"),
    ]
    for line, status, message in cases:
        client.force_login(line.order.buyer)
        response = _page_post(client, line)
        assert response.status_code == status, message
        assert message in response.content.decode()
    client.force_login(UserFactory())
    assert _page_post(client, refunded).status_code == 404
    assert Review.objects.count() == 1


def test_page_follow_up_reply_edit_and_delete_refusals(client, monkeypatch, shop):
    clock = clock_freeze(monkeypatch)
    review = _create(planted_line(shop=shop, received_at=clock.now))
    client.force_login(review.buyer)
    assert client.post(f"/reviews/{review.pk}/follow-up/", {"text": "One"}).status_code == 302
    response = client.post(f"/reviews/{review.pk}/follow-up/", {"text": "Two"})
    assert response.status_code == 409 and "already added a follow-up" in response.content.decode()
    client.force_login(shop.owner)
    assert client.post(f"/reviews/{review.pk}/reply/", {"text": "Thanks"}).status_code == 302
    response = client.post(f"/reviews/{review.pk}/reply/", {"text": "Again"})
    assert response.status_code == 409 and "already replied" in response.content.decode()
    client.force_login(review.buyer)
    response = client.post(f"/reviews/{review.pk}/edit/", {**REVIEW, "stars": 1})
    assert response.status_code == 409 and "shop has replied" in response.content.decode()
    for user in (review.buyer, shop.owner, UserFactory(is_staff=True)):
        client.force_login(user)
        response = client.post(f"/reviews/{review.pk}/delete/")
        assert response.status_code == 405 and "never deleted" in response.content.decode()
    review.refresh_from_db()
    assert (review.stars, review.followup_text, review.reply_text) == (5, "One", "Thanks")


def test_the_api_refuses_with_the_error_format_and_stores_nothing(api_client, monkeypatch, shop):
    clock = clock_freeze(monkeypatch)
    line = planted_line(shop=shop, received_at=clock.now)
    buyer = line.order.buyer
    api_client.force_authenticate(UserFactory())
    response = api_client.post("/api/v1/reviews/", {**REVIEW, "line_id": line.pk}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    api_client.force_authenticate(buyer)
    created = api_client.post("/api/v1/reviews/", {**REVIEW, "line_id": line.pk}, format="json")
    assert created.status_code == 201
    review_id = created.json()["id"]
    again = api_client.post("/api/v1/reviews/", {**REVIEW, "line_id": line.pk}, format="json")
    assert again.status_code == 409 and "already reviewed" in again.json()["error"]["message"]
    assert api_client.post(f"/api/v1/reviews/{review_id}/follow-up/", {"text": "One"}, format="json").status_code == 200
    twice = api_client.post(f"/api/v1/reviews/{review_id}/follow-up/", {"text": "Two"}, format="json")
    assert twice.status_code == 409 and "already added a follow-up" in twice.json()["error"]["message"]
    api_client.force_authenticate(shop.owner)
    assert api_client.post(f"/api/v1/reviews/{review_id}/reply/", {"text": "Thanks"}, format="json").status_code == 200
    second = api_client.post(f"/api/v1/reviews/{review_id}/reply/", {"text": "More"}, format="json")
    assert second.status_code == 409 and "already replied" in second.json()["error"]["message"]
    api_client.force_authenticate(buyer)
    clock.advance(timedelta(hours=25))
    edit = api_client.patch(f"/api/v1/reviews/{review_id}/", {**REVIEW, "stars": 1}, format="json")
    assert edit.status_code == 409 and "replied" in edit.json()["error"]["message"]
    for user in (buyer, shop.owner, UserFactory(is_staff=True)):
        api_client.force_authenticate(user)
        deleted = api_client.delete(f"/api/v1/reviews/{review_id}/")
        assert deleted.status_code == 405 and "never deleted" in deleted.json()["error"]["message"]
    late = planted_line(shop=shop, buyer=buyer, received_at=clock.now - timedelta(days=16))
    api_client.force_authenticate(buyer)
    response = api_client.post("/api/v1/reviews/", {**REVIEW, "line_id": late.pk}, format="json")
    assert response.status_code == 409 and "ended" in response.json()["error"]["message"]
    review = Review.objects.get()
    assert (review.stars, review.followup_text, review.reply_text) == (5, "One", "Thanks")


def test_an_auto_confirmed_line_can_be_reviewed(client, monkeypatch):
    clock = clock_freeze(monkeypatch)
    line = received_line(client, confirm=False)
    clock.advance(timedelta(days=11))
    order_services.order_confirm_receipt(order_id=line.order_id)  # the auto-confirm timer's call
    assert _create(line).line_id == line.pk
