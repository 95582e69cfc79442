"""After-sales API, the happy paths end to end: a refund, a return, an offer, a ruling, and
what each side sees. Refusals are in test_api_access.py and test_api_bad_input.py."""

import pytest
from django.core.management import call_command

from disputes import services
from disputes.models import AfterSalesRequest, Dispute, Evidence
from payments.models import Refund
from tests.factories import UserFactory
from tests.helpers import DESCRIPTION, as_user, books_ok, open_request, photo, shipped_sale

pytestmark = pytest.mark.django_db

Status = AfterSalesRequest.Status


def _create(api, order, **fields):
    data = {"line_id": order.lines.get().pk, "kind": "refund_only", "reason": "not_received",
            "description": DESCRIPTION, "amount": "100.00", **fields}  # fmt: skip
    return api.post("/api/v1/after-sales/", data, format="json")


# --- Happy paths ------------------------------------------------------------------------


def test_buyer_opens_a_refund_and_the_shop_accepts_it(client):
    # given a shipped order of 100.00
    order, _ = shipped_sale(client)
    buyer, merchant = as_user(order.buyer), as_user(order.shop.owner)
    # when the buyer asks for a refund
    created = _create(buyer, order)
    # then the case is open, on the right line, with its first timeline step
    assert created.status_code == 201
    body = created.json()
    line = order.lines.get()
    assert body["status"] == "open" and body["role"] == "buyer" and body["amount"] == "100.00"
    assert body["line"] == {"id": line.pk, "title": line.title, "variant_name": line.variant_name, "quantity": 1,
                            "total": "100.00"}  # fmt: skip
    assert body["order_id"] == order.pk and body["shop"] == order.shop.slug and body["dispute"] is None
    assert [(e["kind"], e["actor"]) for e in body["events"]] == [("opened", "buyer")]
    # when the shop accepts
    accepted = merchant.post(f"/api/v1/after-sales/{body['id']}/accept/", {}, format="json")
    # then the buyer gets everything back
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "refunded" and accepted.json()["refunded"] == "100.00"
    assert accepted.json()["role"] == "merchant"
    order.refresh_from_db()
    assert order.refunded_minor == 10_000 and not order.is_held
    assert Refund.objects.get(order=order).amount_minor == 10_000
    books_ok()


def test_photos_sent_with_a_new_request_come_back_as_evidence_links(client):
    # given
    order, _ = shipped_sale(client)
    data = {"line_id": order.lines.get().pk, "kind": "partial_refund", "reason": "damaged",
            "description": "The lid is cracked in two.", "amount": "30.00",
            "photos": [photo("a.jpg"), photo("b.png")]}  # fmt: skip
    # when
    response = as_user(order.buyer).post("/api/v1/after-sales/", data, format="multipart")
    # then
    assert response.status_code == 201
    ids = list(Evidence.objects.order_by("pk").values_list("pk", flat=True))
    assert len(ids) == 2
    evidence = response.json()["evidence"]
    assert [e["url"] for e in evidence] == [f"http://testserver/after-sales/evidence/{pk}/" for pk in ids]
    assert [e["uploaded_by"] for e in evidence] == ["buyer", "buyer"]
    assert (evidence[0]["width"], evidence[0]["height"]) == (64, 48)
    assert response.json()["amount"] == "30.00"


def test_return_flow_refunds_once_the_shop_has_the_item_back(client):
    # given
    order, _ = shipped_sale(client)
    buyer, merchant = as_user(order.buyer), as_user(order.shop.owner)
    case = _create(buyer, order, kind="return_refund", reason="not_as_described").json()
    url = f"/api/v1/after-sales/{case['id']}"
    # when the shop accepts the return, the buyer ships it and the shop receives it
    accepted = merchant.post(f"{url}/accept/", {"return_address": "9 Return Lane, Hangzhou"}, format="json")
    shipped = buyer.post(f"{url}/return-ship/", {"carrier": "YTO", "tracking_number": "YT9988"}, format="json")
    order.refresh_from_db()
    held_before_receipt = (order.refunded_minor, order.is_held)
    received = merchant.post(f"{url}/return-received/", format="json")
    # then each step shows, and the refund comes only at the end
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "return_pending"
    assert accepted.json()["return_address"] == "9 Return Lane, Hangzhou"
    assert shipped.status_code == 200
    assert (shipped.json()["status"], shipped.json()["return_carrier"], shipped.json()["return_tracking_number"]) == (
        "return_shipped", "YTO", "YT9988",
    )  # fmt: skip
    assert held_before_receipt == (0, True)
    assert received.status_code == 200 and received.json()["status"] == "refunded"
    assert [e["kind"] for e in received.json()["events"]] == [
        "opened", "return_accepted", "return_shipped", "return_received",
    ]  # fmt: skip
    order.refresh_from_db()
    assert order.refunded_minor == 10_000 and not order.is_held
    books_ok()


def test_buyer_accepts_the_shops_smaller_offer(client):
    # given
    order, _ = shipped_sale(client)
    buyer, merchant = as_user(order.buyer), as_user(order.shop.owner)
    case = _create(buyer, order, kind="partial_refund", reason="damaged", amount="50.00").json()
    url = f"/api/v1/after-sales/{case['id']}"
    # when
    offered = merchant.post(f"{url}/propose/", {"amount": "30.00", "note": "Sorry about the scratch."}, format="json")
    taken = buyer.post(f"{url}/offer-accept/", format="json")
    # then
    assert offered.status_code == 200
    assert (offered.json()["status"], offered.json()["proposed"]) == ("proposed", "30.00")
    assert taken.status_code == 200
    assert (taken.json()["status"], taken.json()["refunded"]) == ("refunded", "30.00")
    order.refresh_from_db()
    assert order.refunded_minor == 3_000 and not order.is_held
    assert list(Refund.objects.filter(order=order).values_list("amount_minor", flat=True)) == [3_000]
    books_ok()


def test_rejected_request_escalated_and_ruled_a_partial_refund_by_staff(client):
    # given a request the shop rejects with a photo
    order, _ = shipped_sale(client, price=8_000)
    buyer, merchant, staff = as_user(order.buyer), as_user(order.shop.owner), as_user(UserFactory(is_staff=True))
    case = _create(buyer, order, kind="partial_refund", reason="damaged", amount="40.00").json()
    url = f"/api/v1/after-sales/{case['id']}"
    rejected = merchant.post(f"{url}/reject/", {"note": "It left us intact.", "photos": [photo()]}, format="multipart")
    # when the buyer escalates
    escalated = buyer.post(f"{url}/escalate/", {"note": "The box was crushed."}, format="json")
    # then the case shows the open dispute and the staff queue lists it
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert [(m["author"], m["body"], len(m["evidence"])) for m in rejected.json()["messages"]] == [
        ("merchant", "It left us intact.", 1)
    ]
    assert escalated.status_code == 200 and escalated.json()["status"] == "escalated"
    dispute = Dispute.objects.get(request_id=case["id"])
    assert escalated.json()["dispute"]["id"] == dispute.pk and escalated.json()["dispute"]["status"] == "open"
    queue = staff.get("/api/v1/disputes/")
    assert queue.status_code == 200
    assert [(d["id"], d["request_id"], d["asked"], d["source"]) for d in queue.json()["results"]] == [
        (dispute.pk, case["id"], "40.00", "escalation")
    ]
    # when staff rule a partial refund
    ruled = staff.post(
        f"/api/v1/disputes/{dispute.pk}/rule/",
        {"outcome": "partial_refund", "amount": "15.00", "reason": "The photos show a crushed corner."},
        format="json",
    )
    # then the buyer gets 15.00, the case closes, the rest stays for the shop, the books balance
    assert ruled.status_code == 200
    assert (ruled.json()["status"], ruled.json()["outcome"], ruled.json()["outcome_amount"]) == (
        "ruled", "partial_refund", "15.00",
    )  # fmt: skip
    assert ruled.json()["ruling_reason"] == "The photos show a crushed corner."
    after = buyer.get(f"{url}/").json()
    assert (after["status"], after["refunded"], after["dispute"]["outcome"]) == ("refunded", "15.00", "partial_refund")
    assert after["events"][-2]["actor"] == "staff"
    order.refresh_from_db()
    assert order.refunded_minor == 1_500 and not order.is_held
    assert staff.get("/api/v1/disputes/").json()["results"] == []
    assert [d["id"] for d in staff.get("/api/v1/disputes/?include_closed=true").json()["results"]] == [dispute.pk]
    books_ok()


def test_staff_rule_release_closes_the_case_without_refund(client):
    # given an escalated request
    order, _ = shipped_sale(client)
    case = open_request(order)
    services.after_sales_reject(request_id=case.pk, merchant=order.shop.owner, note="It was delivered on time.")
    dispute = services.after_sales_escalate(request_id=case.pk, user=order.buyer, note="It never came to me.")
    # when
    response = as_user(UserFactory(is_staff=True)).post(
        f"/api/v1/disputes/{dispute.pk}/rule/",
        {"outcome": "release", "reason": "The carrier has a signed delivery."},
        format="json",
    )
    # then
    assert response.status_code == 200 and response.json()["outcome"] == "release"
    case.refresh_from_db()
    order.refresh_from_db()
    assert case.status == Status.CLOSED and order.refunded_minor == 0 and not order.is_held
    assert Refund.objects.count() == 0
    books_ok()


def test_buyer_withdraws_an_open_request(client):
    # given
    order, _ = shipped_sale(client)
    case = open_request(order)
    # when
    response = as_user(order.buyer).post(f"/api/v1/after-sales/{case.pk}/withdraw/")
    # then
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"
    order.refresh_from_db()
    assert not order.is_held and order.refunded_minor == 0


def test_both_sides_exchange_messages_and_add_evidence(client):
    # given
    order, _ = shipped_sale(client)
    case = open_request(order)
    buyer, merchant = as_user(order.buyer), as_user(order.shop.owner)
    url = f"/api/v1/after-sales/{case.pk}"
    # when
    asked = merchant.post(f"{url}/messages/", {"body": "Can you send a photo of the label?"}, format="json")
    answered = buyer.post(f"{url}/messages/", {"body": "Here it is.", "photos": [photo()]}, format="multipart")
    uploaded = buyer.post(f"{url}/evidence/", {"photos": [photo(), photo()]}, format="multipart")
    # then
    assert (asked.status_code, answered.status_code, uploaded.status_code) == (201, 201, 201)
    assert uploaded.json()["body"] == "Added 2 photos as evidence."
    assert len(uploaded.json()["evidence"]) == 2
    listed = merchant.get(f"{url}/messages/")
    assert listed.status_code == 200
    assert [(m["author"], m["body"], len(m["evidence"])) for m in listed.json()["results"]] == [
        ("merchant", "Can you send a photo of the label?", 0),
        ("buyer", "Here it is.", 1),
        ("buyer", "Added 2 photos as evidence.", 2),
    ]
    detail = merchant.get(f"{url}/").json()
    assert len(detail["evidence"]) == 3 and {e["uploaded_by"] for e in detail["evidence"]} == {"buyer"}


def test_lists_show_the_buyer_their_requests_and_the_merchant_their_shops(client):
    # given two buyers' requests at two shops, one of them closed
    mine, _ = shipped_sale(client)
    theirs, _ = shipped_sale(client)
    closed, _ = shipped_sale(client, buyer=mine.buyer, shop=mine.shop)
    first, second = open_request(mine), open_request(theirs)
    third = open_request(closed)
    services.after_sales_withdraw(request_id=third.pk, buyer=mine.buyer)
    # when
    buyer_list = as_user(mine.buyer).get("/api/v1/after-sales/")
    shop_list = as_user(mine.shop.owner).get("/api/v1/merchant/after-sales/")
    shop_open = as_user(mine.shop.owner).get("/api/v1/merchant/after-sales/?open=true")
    # then
    assert buyer_list.status_code == 200
    assert set(buyer_list.json()) == {"next", "previous", "results"}
    assert [r["id"] for r in buyer_list.json()["results"]] == [third.pk, first.pk]
    assert shop_list.status_code == 200
    assert sorted(r["id"] for r in shop_list.json()["results"]) == [first.pk, third.pk]
    assert [r["id"] for r in shop_open.json()["results"]] == [first.pk]
    assert [r["id"] for r in as_user(theirs.shop.owner).get("/api/v1/merchant/after-sales/").json()["results"]] == [
        second.pk
    ]


def test_the_shop_inbox_lists_open_requests_before_closed_ones(client):
    # given a closed request older than an open one, and a closed one newer
    order, _ = shipped_sale(client)
    older, _ = shipped_sale(client, buyer=order.buyer, shop=order.shop)
    services.after_sales_withdraw(request_id=open_request(older).pk, buyer=order.buyer)
    open_case = open_request(order)
    # when
    response = as_user(order.shop.owner).get("/api/v1/merchant/after-sales/")
    # then
    assert response.json()["results"][0]["id"] == open_case.pk


def test_a_user_without_a_shop_has_no_merchant_inbox():
    response = as_user(UserFactory()).get("/api/v1/merchant/after-sales/")
    assert response.status_code == 404


def test_staff_can_read_any_request(client):
    order, _ = shipped_sale(client)
    case = open_request(order)
    response = as_user(UserFactory(is_staff=True)).get(f"/api/v1/after-sales/{case.pk}/")
    assert response.status_code == 200 and response.json()["role"] == "staff"


def test_the_schema_documents_the_after_sales_api_without_warnings(tmp_path):
    # --fail-on-warn turns any guess drf-spectacular had to make (an untyped field, a clash) into an error.
    call_command("spectacular", fail_on_warn=True, validate=True, file=str(tmp_path / "schema.yaml"))
    schema = (tmp_path / "schema.yaml").read_text()
    for path in ("/api/v1/after-sales/{request_id}/escalate/", "/api/v1/disputes/{dispute_id}/rule/"):
        assert f"  {path}:\n" in schema
