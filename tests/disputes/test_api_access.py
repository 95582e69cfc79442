"""Who may see and do what through the after-sales API: strangers get a 404 (an id that
exists is not revealed), the other side of a case a 403 with the reason, non-staff no rulings;
and nothing changes on a refused call."""

import pytest
from rest_framework.test import APIClient

from disputes import services
from disputes.models import AfterSalesRequest, Evidence
from tests.factories import UserFactory, make_shop
from tests.helpers import as_user, error, open_request, photo, shipped_sale, state

pytestmark = pytest.mark.django_db


def _valid_input(action: str) -> tuple[dict, str]:
    """Input each endpoint would accept, so only the caller decides the answer."""
    return {
        "accept/": ({"return_address": "9 Return Lane, Hangzhou"}, "json"),
        "propose/": ({"amount": "10.00", "note": "A partial refund for the trouble."}, "json"),
        "reject/": ({"note": "It left our shop intact."}, "json"),
        "return-ship/": ({"carrier": "YTO", "tracking_number": "YT9988"}, "json"),
        "escalate/": ({"note": "We cannot agree on this at all."}, "json"),
        "messages/": ({"body": "Hello?"}, "json"),
        "evidence/": ({"photos": [photo()]}, "multipart"),
    }.get(action, ({}, "json"))


CASE_CALLS = [
    ("get", ""),
    ("post", "accept/"),
    ("post", "propose/"),
    ("post", "reject/"),
    ("post", "return-received/"),
    ("post", "offer-accept/"),
    ("post", "return-ship/"),
    ("post", "withdraw/"),
    ("post", "escalate/"),
    ("get", "messages/"),
    ("post", "messages/"),
    ("post", "evidence/"),
]


def _call(api, method: str, url: str, action: str):
    if method == "get":
        return api.get(url)
    data, fmt = _valid_input(action)
    return api.post(url, data, format=fmt)


@pytest.mark.parametrize("stranger", ["another buyer", "another merchant"])
@pytest.mark.parametrize(("method", "action"), CASE_CALLS)
def test_a_stranger_gets_404_on_every_case_endpoint(client, stranger, method, action):
    # given a request, and someone with their own request or shop but no part in this one
    order, _ = shipped_sale(client)
    case = open_request(order)
    other_order, _ = shipped_sale(client)
    open_request(other_order)
    user = other_order.buyer if stranger == "another buyer" else other_order.shop.owner
    before = state(order)
    # when
    response = _call(as_user(user), method, f"/api/v1/after-sales/{case.pk}/{action}", action)
    # then
    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "code": "not_found", "message": "Not found."}}
    assert state(order) == before


@pytest.mark.parametrize(
    ("side", "action", "message"),
    [
        ("buyer", "accept/", "Only the shop can do this."),
        ("buyer", "propose/", "Only the shop can do this."),
        ("buyer", "reject/", "Only the shop can do this."),
        ("buyer", "return-received/", "Only the shop can do this."),
        ("merchant", "offer-accept/", "Only the buyer can do this."),
        ("merchant", "return-ship/", "Only the buyer can do this."),
        ("merchant", "withdraw/", "Only the buyer can do this."),
        ("staff", "accept/", "Only the shop can do this."),
        ("staff", "withdraw/", "Only the buyer can do this."),
        ("staff", "escalate/", "Only the buyer or the shop can escalate."),
    ],
)
def test_the_wrong_side_of_a_case_gets_403_with_the_reason(client, side, action, message):
    # given a request the shop has rejected (so escalation would be allowed for a party)
    order, _ = shipped_sale(client)
    case = open_request(order)
    if action == "escalate/":
        services.after_sales_reject(request_id=case.pk, merchant=order.shop.owner, note="It left our shop intact.")
    user = {"buyer": order.buyer, "merchant": order.shop.owner, "staff": UserFactory(is_staff=True)}[side]
    before = state(order)
    # when
    response = _call(as_user(user), "post", f"/api/v1/after-sales/{case.pk}/{action}", action)
    # then
    assert response.status_code == 403
    assert error(response) == {"status": 403, "code": "permission_denied", "message": message}
    assert state(order) == before


def test_a_buyer_cannot_open_a_request_on_someone_elses_order(client):
    # given another buyer's shipped order, and its own shop's owner
    order, _ = shipped_sale(client)
    data = {"line_id": order.lines.get().pk, "kind": "refund_only", "reason": "not_received",
            "description": "The parcel never arrived at my door.", "amount": "10.00"}  # fmt: skip
    before = state(order)
    for user in (UserFactory(), order.shop.owner):
        # when
        response = as_user(user).post("/api/v1/after-sales/", data, format="json")
        # then
        assert response.status_code == 404
    assert state(order) == before


def test_evidence_belongs_to_its_own_case_only(client):
    # given two requests of one buyer, evidence on the second, and a stranger
    first_order, _ = shipped_sale(client)
    second_order, _ = shipped_sale(client, buyer=first_order.buyer)
    first, second = open_request(first_order), open_request(second_order)
    buyer = as_user(first_order.buyer)
    uploaded = buyer.post(f"/api/v1/after-sales/{second.pk}/evidence/", {"photos": [photo()]}, format="multipart")
    evidence_id = Evidence.objects.get().pk
    # when
    first_detail = buyer.get(f"/api/v1/after-sales/{first.pk}/").json()
    stranger = as_user(UserFactory())
    peek = stranger.get(f"/api/v1/after-sales/{second.pk}/")
    added = stranger.post(f"/api/v1/after-sales/{second.pk}/evidence/", {"photos": [photo()]}, format="multipart")
    # then the evidence shows on its own case only, and a stranger neither sees nor adds any
    assert uploaded.status_code == 201
    assert [e["id"] for e in uploaded.json()["evidence"]] == [evidence_id]
    assert first_detail["evidence"] == [] and first_detail["messages"] == []
    assert (peek.status_code, added.status_code) == (404, 404)
    assert list(Evidence.objects.values_list("pk", flat=True)) == [evidence_id]


def test_lists_never_show_another_persons_requests(client):
    # given a request, a stranger and another shop's owner
    order, _ = shipped_sale(client)
    open_request(order)
    # then
    assert as_user(UserFactory()).get("/api/v1/after-sales/").json()["results"] == []
    assert as_user(make_shop().owner).get("/api/v1/merchant/after-sales/").json()["results"] == []
    assert as_user(order.shop.owner).get("/api/v1/after-sales/").json()["results"] == []


@pytest.mark.parametrize("who", ["buyer", "merchant", "someone"])
def test_only_staff_see_the_dispute_queue_and_rule(client, who):
    # given an escalated request
    order, _ = shipped_sale(client)
    case = open_request(order)
    services.after_sales_reject(request_id=case.pk, merchant=order.shop.owner, note="It left our shop intact.")
    dispute = services.after_sales_escalate(request_id=case.pk, user=order.buyer, note="The box was crushed.")
    user = {"buyer": order.buyer, "merchant": order.shop.owner, "someone": UserFactory()}[who]
    api = as_user(user)
    before = state(order)
    # when
    queue = api.get("/api/v1/disputes/")
    ruled = api.post(
        f"/api/v1/disputes/{dispute.pk}/rule/",
        {"outcome": "full_refund", "reason": "The buyer is right about this."},
        format="json",
    )
    # then
    for response in (queue, ruled):
        assert response.status_code == 403
        assert error(response) == {
            "status": 403, "code": "permission_denied", "message": "You do not have permission to perform this action.",
        }  # fmt: skip
    assert state(order) == before
    dispute.refresh_from_db()
    assert dispute.status == "open"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/after-sales/"),
        ("post", "/api/v1/after-sales/"),
        ("get", "/api/v1/merchant/after-sales/"),
        ("get", "/api/v1/after-sales/{id}/"),
        ("post", "/api/v1/after-sales/{id}/withdraw/"),
        ("get", "/api/v1/disputes/"),
    ],
)
def test_anonymous_callers_are_refused(client, method, url):
    order, _ = shipped_sale(client)
    case = open_request(order)
    before = state(order)
    response = getattr(APIClient(), method)(url.format(id=case.pk))
    assert response.status_code == 403
    assert error(response)["message"] == "Authentication credentials were not provided."
    assert state(order) == before
    assert AfterSalesRequest.objects.count() == 1
