"""Bad input to the after-sales API: a 4xx with a message a person can act on, named after the
input it is about, and nothing changed — no request, refund, hold, message or evidence."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from disputes import services
from disputes.models import AfterSalesRequest, Dispute
from tests.factories import UserFactory, make_product
from tests.helpers import DESCRIPTION, as_user, error, open_request, pay, photo, place, shipped_sale, state

pytestmark = pytest.mark.django_db

NOT_A_PICTURE = "notes.txt: This file is not a picture we can read. Upload a JPEG, PNG, WebP or HEIC photo."


def _text_file():
    return SimpleUploadedFile("notes.txt", b"just some words", content_type="text/plain")


def _fields(response) -> dict:
    return error(response)["fields"]


# --- Opening a request ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"amount": "abc"}, "amount", "'abc' is not an amount. Use digits, such as 12.50."),
        ({"amount": "-5.00"}, "amount", "The amount cannot be negative."),
        ({"amount": "0"}, "amount", "The amount must be more than zero."),
        ({"amount": 12.5}, "amount", 'Send the amount as a string, such as "12.50".'),
        ({"amount": "1.234"}, "amount", "CNY amounts have at most 2 decimals."),
        (
            {"amount": "100.01"},
            "amount",
            "You can ask for at most ¥100.00: what you paid for this order less what is refunded or already asked for.",
        ),
        ({"kind": "gift"}, "kind", '"gift" is not one of: refund_only, return_refund, partial_refund.'),
        (
            {"reason": "bored"},
            "reason",
            '"bored" is not one of: not_received, not_shipped, damaged, not_as_described, counterfeit, wrong_item, '
            "no_reason.",
        ),
        ({"description": None}, "description", "This field is required."),
        ({"description": "   "}, "description", "This field may not be blank."),
        ({"description": "broken"}, "description", "The description needs at least 10 characters."),
        ({"description": "x" * 2001}, "description", "The description is too long: at most 2000 characters."),
        ({"line_id": "first"}, "line_id", "A valid integer is required."),
        ({"reason": "no_reason"}, "kind", "A no-reason request is a return: send the item back for a refund."),
    ],
)
def test_opening_a_request_with_bad_input_is_refused(client, change, field, message):
    # given
    order, _ = shipped_sale(client)
    data = {"line_id": order.lines.get().pk, "kind": "refund_only", "reason": "not_received",
            "description": DESCRIPTION, "amount": "100.00", **change}  # fmt: skip
    data = {k: v for k, v in data.items() if v is not None}
    before = state(order)
    # when
    response = as_user(order.buyer).post("/api/v1/after-sales/", data, format="json")
    # then
    assert response.status_code == 400
    assert _fields(response) == {field: [message]}
    assert state(order) == before == ((), 0, False, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("photos", "message"),
    [([_text_file], NOT_A_PICTURE), ([photo] * 7, "Attach at most 6 photos.")],
)
def test_opening_a_request_with_bad_photos_is_refused(client, photos, message):
    # given
    order, _ = shipped_sale(client)
    data = {"line_id": order.lines.get().pk, "kind": "refund_only", "reason": "not_received",
            "description": DESCRIPTION, "amount": "100.00", "photos": [make() for make in photos]}  # fmt: skip
    before = state(order)
    # when
    response = as_user(order.buyer).post("/api/v1/after-sales/", data, format="multipart")
    # then
    assert response.status_code == 400
    assert _fields(response) == {"photos": [message]}
    assert state(order) == before


def test_an_order_that_has_not_shipped_cannot_have_a_request(client):
    # given a paid order the shop has not shipped
    buyer = UserFactory()
    order = pay(client, place(buyer, (make_product(price_minor=5_000).variants.get(), 1))).orders.get()
    data = {"line_id": order.lines.get().pk, "kind": "refund_only", "reason": "not_received",
            "description": DESCRIPTION, "amount": "50.00"}  # fmt: skip
    before = state(order)
    # when
    response = as_user(buyer).post("/api/v1/after-sales/", data, format="json")
    # then
    assert response.status_code == 409
    assert error(response) == {
        "status": 409, "code": "conflict",
        "message": "This order has not shipped yet: cancel it instead for a full refund at once.",
    }  # fmt: skip
    assert state(order) == before


def test_a_second_open_request_on_the_same_item_is_refused(client):
    # given an open request for part of the order
    order, _ = shipped_sale(client)
    open_request(order, amount=2_000)
    data = {"line_id": order.lines.get().pk, "kind": "refund_only", "reason": "not_received",
            "description": DESCRIPTION, "amount": "20.00"}  # fmt: skip
    before = state(order)
    # when
    response = as_user(order.buyer).post("/api/v1/after-sales/", data, format="json")
    # then
    assert response.status_code == 409
    assert error(response)["message"] == "There is already an open request for this item."
    assert state(order) == before


# --- Answers and steps on a request -----------------------------------------------------


@pytest.mark.parametrize(
    ("action", "data", "field", "message"),
    [
        (
            "propose/",
            {"amount": "abc", "note": "Sorry."},
            "amount",
            "'abc' is not an amount. Use digits, such as 12.50.",
        ),
        ("propose/", {"amount": "-1", "note": "Sorry."}, "amount", "The amount cannot be negative."),
        (
            "propose/",
            {"amount": "100.00", "note": "Sorry."},
            "amount",
            "An offer must be less than the ¥100.00 asked for; to give that, accept the request.",
        ),
        ("propose/", {"amount": "10.00"}, "note", "This field is required."),
        ("reject/", {"note": "No."}, "note", "The reason for rejecting needs at least 10 characters."),
        ("messages/", {"body": ""}, "body", "This field may not be blank."),
        ("messages/", {"body": "x" * 2001}, "body", "The message is too long: at most 2000 characters."),
    ],
)
def test_answers_with_bad_input_are_refused(client, action, data, field, message):
    # given an open request of 100.00
    order, _ = shipped_sale(client)
    case = open_request(order)
    before = state(order)
    # when
    response = as_user(order.shop.owner).post(f"/api/v1/after-sales/{case.pk}/{action}", data, format="json")
    # then
    assert response.status_code == 400
    assert _fields(response) == {field: [message]}
    assert state(order) == before


@pytest.mark.parametrize(
    ("action", "photos", "message"),
    [
        ("reject/", [_text_file], NOT_A_PICTURE),
        ("reject/", [photo] * 7, "Attach at most 6 photos."),
        ("messages/", [_text_file], NOT_A_PICTURE),
        ("evidence/", [photo, _text_file], NOT_A_PICTURE),
        ("evidence/", [photo] * 7, "Attach at most 6 photos."),
        ("evidence/", [], "Attach at least one photo."),
    ],
)
def test_bad_photos_on_a_request_are_refused(client, action, photos, message):
    # given an open request
    order, _ = shipped_sale(client)
    case = open_request(order)
    data = {"note": "It left our shop intact.", "body": "See the photos.", "photos": [make() for make in photos]}
    before = state(order)
    # when
    response = as_user(order.shop.owner).post(f"/api/v1/after-sales/{case.pk}/{action}", data, format="multipart")
    # then
    assert response.status_code == 400
    assert _fields(response) == {"photos": [message]}
    assert state(order) == before


@pytest.mark.parametrize(
    ("photos", "message"),
    [(["x"], "Each photo must be a file sent as multipart form data."),
     ("x", 'Expected a list of items but got type "str".')],
)  # fmt: skip
def test_photos_that_are_not_files_are_refused(client, photos, message):
    # given
    order, _ = shipped_sale(client)
    case = open_request(order)
    before = state(order)
    # when
    response = as_user(order.buyer).post(
        f"/api/v1/after-sales/{case.pk}/messages/", {"body": "See the photos.", "photos": photos}, format="json"
    )
    # then
    assert response.status_code == 400
    assert _fields(response) == {"photos": [message]}
    assert state(order) == before


def test_a_body_that_is_not_an_object_is_refused(client):
    order, _ = shipped_sale(client)
    before = state(order)
    response = as_user(order.buyer).post("/api/v1/after-sales/", [order.lines.get().pk], format="json")
    assert response.status_code == 400
    assert _fields(response) == {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
    assert state(order) == before


def test_accepting_a_return_needs_the_return_address(client):
    # given
    order, _ = shipped_sale(client)
    case = open_request(order, kind="return_refund", reason="not_as_described")
    before = state(order)
    # when
    response = as_user(order.shop.owner).post(f"/api/v1/after-sales/{case.pk}/accept/", {}, format="json")
    # then
    assert response.status_code == 400
    assert _fields(response) == {"return_address": ["The return address needs at least 10 characters."]}
    assert state(order) == before


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"carrier": "YTO", "tracking_number": "#!"}, "tracking_number",
         "Enter the tracking number: 4 to 60 letters and digits."),
        ({"tracking_number": "YT9988"}, "carrier", "This field is required."),
    ],
)  # fmt: skip
def test_a_return_shipment_needs_a_carrier_and_a_real_tracking_number(client, data, field, message):
    # given a return the shop accepted
    order, _ = shipped_sale(client)
    case = open_request(order, kind="return_refund", reason="not_as_described")
    services.after_sales_accept(request_id=case.pk, merchant=order.shop.owner, return_address="9 Return Lane, Hangzhou")
    before = state(order)
    # when
    response = as_user(order.buyer).post(f"/api/v1/after-sales/{case.pk}/return-ship/", data, format="json")
    # then
    assert response.status_code == 400
    assert _fields(response) == {field: [message]}
    assert state(order) == before


def _refunded(order):
    case = open_request(order)
    services.after_sales_accept(request_id=case.pk, merchant=order.shop.owner)
    return case


def _escalated(order):
    case = open_request(order)
    services.after_sales_reject(request_id=case.pk, merchant=order.shop.owner, note="It left our shop intact.")
    services.after_sales_escalate(request_id=case.pk, user=order.buyer, note="The box was crushed.")
    return case


@pytest.mark.parametrize(
    ("given", "side", "action", "data", "message"),
    [
        (open_request, "buyer", "offer-accept/", {}, "There is no offer to accept on this request."),
        (open_request, "buyer", "return-ship/", {"carrier": "YTO", "tracking_number": "YT9988"},
         "This request is waiting for the shop; it cannot be marked as sent back."),
        (open_request, "merchant", "return-received/", {}, "No return is on its way for this request."),
        (open_request, "buyer", "escalate/", {"note": "The shop is not answering me."},
         "This request is waiting for the shop; it cannot be escalated."),
        (_refunded, "merchant", "accept/", {}, "This request is refunded; it cannot be accepted."),
        (_refunded, "merchant", "propose/", {"amount": "10.00", "note": "Sorry."},
         "This request is refunded; it cannot be answered with an offer."),
        (_refunded, "buyer", "withdraw/", {}, "This request is refunded; it cannot be withdrawn."),
        (_refunded, "buyer", "messages/", {"body": "Thanks!"},
         "This request is closed; messages can no longer be added."),
        (_escalated, "buyer", "withdraw/", {}, "This request is with Circle Market now; it will be ruled on."),
        (_escalated, "merchant", "reject/", {"note": "It left our shop intact."},
         "This request is with Circle Market for a ruling; it cannot be rejected."),
    ],
)  # fmt: skip
def test_a_step_the_request_is_not_ready_for_is_a_409(client, given, side, action, data, message):
    # given
    order, _ = shipped_sale(client)
    case = given(order)
    user = order.buyer if side == "buyer" else order.shop.owner
    before = state(order)
    # when
    response = as_user(user).post(f"/api/v1/after-sales/{case.pk}/{action}", data, format="json")
    # then
    assert response.status_code == 409
    assert error(response) == {"status": 409, "code": "conflict", "message": message}
    assert state(order) == before


def test_evidence_cannot_be_added_to_a_closed_request(client):
    order, _ = shipped_sale(client)
    case = _refunded(order)
    before = state(order)
    response = as_user(order.buyer).post(f"/api/v1/after-sales/{case.pk}/evidence/", {"photos": [photo()]})
    assert response.status_code == 409
    assert error(response)["message"] == "This request is closed; messages can no longer be added."
    assert state(order) == before


def test_an_unknown_request_is_a_404(client):
    response = as_user(UserFactory()).post("/api/v1/after-sales/999999/withdraw/")
    assert response.status_code == 404


# --- Rulings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"outcome": "split", "reason": "The photos show a crushed corner."}, "outcome",
         '"split" is not one of: full_refund, partial_refund, release.'),
        ({"outcome": "chargeback_lost", "reason": "The photos show a crushed corner."}, "outcome",
         '"chargeback_lost" is not one of: full_refund, partial_refund, release.'),
        ({"outcome": "partial_refund", "reason": "The photos show a crushed corner."}, "amount",
         "Enter the amount as a number."),
        ({"outcome": "partial_refund", "amount": "abc", "reason": "The photos show a crushed corner."}, "amount",
         "'abc' is not an amount. Use digits, such as 12.50."),
        ({"outcome": "partial_refund", "amount": "-3", "reason": "The photos show a crushed corner."}, "amount",
         "The amount cannot be negative."),
        ({"outcome": "partial_refund", "amount": "100.00", "reason": "The photos show a crushed corner."}, "amount",
         "A partial refund must be less than the ¥100.00 asked for."),
        ({"outcome": "full_refund"}, "reason", "This field is required."),
        ({"outcome": "full_refund", "reason": "Fair."}, "reason", "The written reason needs at least 10 characters."),
    ],
)  # fmt: skip
def test_a_ruling_with_bad_input_is_refused(client, data, field, message):
    # given an escalated request of 100.00
    order, _ = shipped_sale(client)
    case = _escalated(order)
    before = state(order)
    # when
    response = as_user(UserFactory(is_staff=True)).post(
        f"/api/v1/disputes/{case.dispute.pk}/rule/", data, format="json"
    )
    # then
    assert response.status_code == 400
    assert _fields(response) == {field: [message]}
    assert state(order) == before
    assert Dispute.objects.get().status == Dispute.Status.OPEN


def test_a_closed_dispute_cannot_be_ruled_again(client):
    # given a dispute already ruled a full refund
    order, _ = shipped_sale(client)
    case = _escalated(order)
    staff = UserFactory(is_staff=True)
    services.dispute_rule(dispute_id=case.dispute.pk, admin=staff, outcome="full_refund", reason="The box was crushed.")
    before = state(order)
    # when
    response = as_user(staff).post(
        f"/api/v1/disputes/{case.dispute.pk}/rule/",
        {"outcome": "release", "reason": "Changed my mind about it."},
        format="json",
    )
    # then
    assert response.status_code == 409
    assert error(response) == {"status": 409, "code": "conflict", "message": "This dispute is already closed."}
    assert state(order) == before
    assert Dispute.objects.get().outcome == Dispute.Outcome.FULL_REFUND


def test_a_chargeback_is_not_ruled_here(client):
    # given a card chargeback on the order
    order, _ = shipped_sale(client)
    (dispute,) = services.chargeback_open(
        stripe_dispute_id="dp_api", payment_intent_id=order.group.payment_intent_id, amount_minor=1_000,
        reason="fraudulent",
    )  # fmt: skip
    before = state(order)
    # when
    response = as_user(UserFactory(is_staff=True)).post(
        f"/api/v1/disputes/{dispute.pk}/rule/",
        {"outcome": "release", "reason": "The card issuer decides this one."},
        format="json",
    )
    # then
    assert response.status_code == 409
    assert error(response)["message"] == "A chargeback is decided by the card issuer, not here."
    assert state(order) == before


def test_ruling_an_unknown_dispute_is_a_404():
    response = as_user(UserFactory(is_staff=True)).post(
        "/api/v1/disputes/999999/rule/", {"outcome": "release", "reason": "Nothing to rule here."}, format="json"
    )
    assert response.status_code == 404


# --- Query parameters -------------------------------------------------------------------


def test_list_filters_must_be_yes_or_no(client):
    order, _ = shipped_sale(client)
    inbox = as_user(order.shop.owner).get("/api/v1/merchant/after-sales/?open=maybe")
    queue = as_user(UserFactory(is_staff=True)).get("/api/v1/disputes/?include_closed=maybe")
    assert (inbox.status_code, _fields(inbox)) == (400, {"open": ["Must be a valid boolean."]})
    assert (queue.status_code, _fields(queue)) == (400, {"include_closed": ["Must be a valid boolean."]})
    assert AfterSalesRequest.objects.count() == 0
