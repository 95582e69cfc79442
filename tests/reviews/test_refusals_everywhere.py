"""The eligibility matrix once more, as a table: each refusal through the service, the page
and the API, with its status and message, and nothing changed."""

from datetime import timedelta

import pytest

from disputes.models import AfterSalesRequest
from marketplace.errors import ConflictError
from orders.models import Order
from reviews import services
from reviews.models import Review
from tests.factories import UserFactory, make_shop
from tests.helpers import clock_freeze
from tests.reviews.helpers import REVIEW, planted_line

pytestmark = pytest.mark.django_db


def _snapshot():
    return list(Review.objects.order_by("pk").values())


# Lines are planted "received now" unless a case says otherwise.
def _line(clock, shop, **kw):
    return planted_line(shop=shop, received_at=kw.pop("received_at", clock.now), **kw)


def _reviewed(clock, shop, *, reply=False, followup=False):
    line = _line(clock, shop)
    review = services.review_create(buyer=line.order.buyer, line_id=line.pk, **REVIEW)
    if reply:
        services.review_reply(review_id=review.pk, merchant=shop.owner, text="Thanks")
    if followup:
        services.review_follow_up(review_id=review.pk, buyer=review.buyer, text="Later")
    return review


def _refunded(clock, shop):
    line = _line(clock, shop)
    AfterSalesRequest.objects.create(
        order=line.order, line=line, shop=shop, buyer=line.order.buyer, kind="refund_only", reason="damaged",
        description="x", amount_minor=line.total_minor, status="refunded", refunded_minor=line.total_minor,
    )  # fmt: skip
    return line


# name: (setup(clock, shop) -> line, status, message)
CREATE_CASES = {
    "not received": (lambda c, s: _line(c, s, status=Order.Status.SHIPPED, received_at=None), 409, "once you have"),
    "after the window": (lambda c, s: _line(c, s, received_at=c.now - timedelta(days=16)), 409, "ended on"),
    "refunded in full": (_refunded, 409, "refunded in full"),
    "twice": (lambda c, s: _reviewed(c, s).line, 409, "already reviewed"),
}


@pytest.mark.parametrize("case", list(CREATE_CASES))
def test_create_refusals_on_every_channel(case, client, api_client, monkeypatch):
    clock = clock_freeze(monkeypatch)
    setup, status, message = CREATE_CASES[case]
    line = setup(clock, make_shop())
    before = _snapshot()
    with pytest.raises(ConflictError, match=message):
        services.review_create(buyer=line.order.buyer, line_id=line.pk, **REVIEW)
    client.force_login(line.order.buyer)
    page = client.post(f"/reviews/new/{line.pk}/", REVIEW)
    assert page.status_code == status and message in page.content.decode()
    api_client.force_authenticate(line.order.buyer)
    api = api_client.post("/api/v1/reviews/", {**REVIEW, "line_id": line.pk}, format="json")
    assert api.status_code == status and message in api.json()["error"]["message"]
    assert _snapshot() == before


# name: (review setup, who acts, clock advance, action path, data, status, message)
ACTION_CASES = {
    "follow-up twice": (dict(followup=True), "buyer", timedelta(0), "follow-up", {"text": "x"}, 409, "already added"),
    "follow-up late": ({}, "buyer", timedelta(days=181), "follow-up", {"text": "x"}, 409, "180 days"),
    "second reply": (dict(reply=True), "merchant", timedelta(0), "reply", {"text": "x"}, 409, "already replied"),
    "edit after 24 hours": ({}, "buyer", timedelta(hours=25), "edit", {**REVIEW, "stars": 1}, 409, "24 hours"),
    "edit after a reply": (dict(reply=True), "buyer", timedelta(0), "edit", {**REVIEW, "stars": 1}, 409, "replied"),
    "someone else's edit": ({}, "stranger", timedelta(0), "edit", {**REVIEW, "stars": 1}, 403, "Only the buyer"),
}


@pytest.mark.parametrize("case", list(ACTION_CASES))
def test_action_refusals_on_the_page_and_the_api(case, client, api_client, monkeypatch):
    clock = clock_freeze(monkeypatch)
    shop = make_shop()
    setup, who, later, action, data, status, message = ACTION_CASES[case]
    review = _reviewed(clock, shop, **setup)
    actor = {"buyer": review.buyer, "merchant": shop.owner, "stranger": UserFactory()}[who]
    clock.advance(later)
    before = _snapshot()
    client.force_login(actor)
    page = client.post(f"/reviews/{review.pk}/{action}/", data)
    if who == "stranger":
        assert page.status_code == 404  # the edit page loads only the buyer's own reviews
    else:
        assert page.status_code == status and message in page.content.decode()
    api_client.force_authenticate(actor)
    if action == "edit":
        api = api_client.patch(f"/api/v1/reviews/{review.pk}/", data, format="json")
    else:
        api = api_client.post(f"/api/v1/reviews/{review.pk}/{action}/", data, format="json")
    assert api.status_code == status and message in api.json()["error"]["message"]
    assert _snapshot() == before


@pytest.mark.parametrize("who", ["buyer", "merchant", "staff", "stranger", "anonymous"])
def test_nobody_deletes_a_review_on_any_channel(who, client, api_client, monkeypatch):
    clock = clock_freeze(monkeypatch)
    shop = make_shop()
    review = _reviewed(clock, shop)
    actor = {"buyer": review.buyer, "merchant": shop.owner, "staff": UserFactory(is_staff=True),
             "stranger": UserFactory(), "anonymous": None}[who]  # fmt: skip
    before = _snapshot()
    if actor is not None:
        client.force_login(actor)
        api_client.force_authenticate(actor)
    page = client.post(f"/reviews/{review.pk}/delete/")
    assert page.status_code == 405 and "never deleted" in page.content.decode()
    api = api_client.delete(f"/api/v1/reviews/{review.pk}/")
    if actor is None:
        assert api.status_code in (401, 403)
    else:
        assert api.status_code == 405 and "never deleted" in api.json()["error"]["message"]
    assert _snapshot() == before
