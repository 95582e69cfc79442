"""After-sales pages, the staff dispute console and sanctions, through the real pages: each page
for the right people and a 404 for everyone else, each action through its form, and bad input
answered beside the field with what was typed kept and nothing changed."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from disputes import services
from disputes.models import AfterSalesRequest, Dispute, Evidence, Message, Sanction
from orders.models import Order
from payments.models import Refund
from shops.models import Shop
from tests.factories import UserFactory, make_shop
from tests.helpers import books_ok, photo, shipped_sale

pytestmark = pytest.mark.django_db

Status = AfterSalesRequest.Status
DESCRIPTION = "The parcel arrived crushed and the teapot lid is broken."


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _text(response) -> str:
    return response.content.decode()


def open_request(order, *, kind="refund_only", reason="damaged", amount=None, photos=()):
    return services.after_sales_open(
        buyer=order.buyer, line_id=order.lines.get().pk, kind=kind, reason=reason, description=DESCRIPTION,
        amount_minor=amount or order.total_minor, photos=photos,
    )  # fmt: skip


def _state(case: AfterSalesRequest) -> tuple:
    """What an action may change: compared before and after a refused one."""
    case.refresh_from_db()
    order = Order.objects.get(pk=case.order_id)
    return (
        case.status, case.deadline_at, case.proposed_minor, case.return_address, case.return_tracking_number,
        case.refunded_minor, order.refunded_minor, order.is_held, Message.objects.filter(request=case).count(),
        Evidence.objects.filter(request=case).count(), Dispute.objects.filter(request=case).count(),
        Refund.objects.filter(order=order).count(),
    )  # fmt: skip


@pytest.fixture
def sale(client):
    order, _ = shipped_sale(client, price=10_000)
    return order


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


# --- Opening a request ------------------------------------------------------------------


def test_a_buyer_opens_a_request_from_the_order_page_with_a_photo(sale):
    # given the buyer on their shipped order's page
    buyer = _as(sale.buyer)
    line = sale.lines.get()
    page = buyer.get(f"/orders/{sale.pk}/")
    new_url = f"/orders/{sale.pk}/lines/{line.pk}/after-sales/"
    assert f'href="{new_url}">Request a refund / return</a>' in _text(page)

    # when they open the form, it is prefilled with the line total
    form = buyer.get(new_url)
    assert form.status_code == 200
    assert 'value="100.00"' in _text(form)

    # and send it with a photo
    response = buyer.post(
        new_url,
        {"kind": "partial_refund", "reason": "damaged", "amount_minor": "60.00", "description": DESCRIPTION,
         "photos": [photo()]},
    )  # fmt: skip

    # then the request exists with its photo, the order is held, and its page shows the countdown
    case = AfterSalesRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/after-sales/{case.pk}/"
    assert (case.kind, case.reason, case.amount_minor, case.status) == ("partial_refund", "damaged", 6000, "open")
    assert case.evidence.count() == 1
    assert Order.objects.get(pk=sale.pk).is_held
    detail = buyer.get(response["Location"])
    assert "The shop must answer within 1 day 23 h." in _text(detail)
    assert f'src="/after-sales/evidence/{case.evidence.get().pk}/"' in _text(detail)
    assert "/media/" not in _text(detail)
    # and the order page now links to the request instead of offering a new one
    page = buyer.get(f"/orders/{sale.pk}/")
    assert f'href="/after-sales/{case.pk}/">Your request</a>' in _text(page)
    assert new_url not in _text(page)
    books_ok()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"amount_minor": "1000.00"}, "amount_minor", "You can ask for at most ¥100.00"),
        ({"amount_minor": "ten yuan"}, "amount_minor", "is not an amount"),
        ({"amount_minor": "0"}, "amount_minor", "The amount must be more than zero."),
        ({"description": ""}, "description", "This field is required."),
        ({"description": "Broken."}, "description", "The description needs at least 10 characters."),
        ({"kind": ""}, "kind", "This field is required."),
        ({"reason": "bored"}, "reason", "Select a valid choice."),
        ({"kind": "refund_only", "reason": "no_reason"}, "kind", "A no-reason request is a return"),
    ],
)
def test_a_bad_request_form_says_why_beside_the_field_and_keeps_what_was_typed(sale, changes, field, message):
    # given
    buyer = _as(sale.buyer)
    url = f"/orders/{sale.pk}/lines/{sale.lines.get().pk}/after-sales/"
    data = {"kind": "partial_refund", "reason": "damaged", "amount_minor": "60.00", "description": DESCRIPTION}
    data.update(changes)
    # when
    response = buyer.post(url, data)
    # then the form comes back with the message beside the field and the typed text kept
    assert response.status_code == 200
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    assert data["description"] in _text(response)
    assert f'value="{data["amount_minor"]}"' in _text(response)
    # and nothing changed
    assert not AfterSalesRequest.objects.exists()
    assert not Order.objects.get(pk=sale.pk).is_held


def test_a_non_image_photo_is_refused_beside_the_photos_field(sale):
    buyer = _as(sale.buyer)
    url = f"/orders/{sale.pk}/lines/{sale.lines.get().pk}/after-sales/"
    fake = SimpleUploadedFile("receipt.pdf", b"%PDF-1.4 not a photo at all", content_type="image/jpeg")
    response = buyer.post(
        url,
        {"kind": "refund_only", "reason": "not_received", "amount_minor": "100.00", "description": DESCRIPTION,
         "photos": [fake]},
    )  # fmt: skip
    assert response.status_code == 200
    assert any(error.startswith("receipt.pdf: ") for error in response.context["form"].errors["photos"])
    assert DESCRIPTION in _text(response)
    assert not AfterSalesRequest.objects.exists() and not Evidence.objects.exists()


def test_seven_photos_are_one_too_many(sale):
    buyer = _as(sale.buyer)
    url = f"/orders/{sale.pk}/lines/{sale.lines.get().pk}/after-sales/"
    response = buyer.post(
        url,
        {"kind": "refund_only", "reason": "not_received", "amount_minor": "100.00", "description": DESCRIPTION,
         "photos": [photo(f"p{i}.jpg") for i in range(7)]},
    )  # fmt: skip
    assert response.context["form"].errors["photos"] == ["Attach at most 6 photos."]
    assert not AfterSalesRequest.objects.exists()


def test_an_order_not_yet_shipped_offers_no_request_and_refuses_one(client):
    # given a paid order that has not shipped
    order, _ = shipped_sale(client)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PAID)
    buyer = _as(order.buyer)
    url = f"/orders/{order.pk}/lines/{order.lines.get().pk}/after-sales/"
    # then its page has no link, and a forced post is refused with the reason
    assert "Request a refund / return" not in _text(buyer.get(f"/orders/{order.pk}/"))
    response = buyer.post(
        url, {"kind": "refund_only", "reason": "not_received", "amount_minor": "100.00", "description": DESCRIPTION}
    )
    assert "cancel it instead" in response.context["form"].non_field_errors()[0]
    assert not AfterSalesRequest.objects.exists()


def test_a_second_open_request_on_the_same_line_is_refused(sale):
    open_request(sale, amount=1000)
    buyer = _as(sale.buyer)
    url = f"/orders/{sale.pk}/lines/{sale.lines.get().pk}/after-sales/"
    response = buyer.post(
        url, {"kind": "refund_only", "reason": "damaged", "amount_minor": "10.00", "description": DESCRIPTION}
    )
    assert response.status_code == 200
    assert AfterSalesRequest.objects.count() == 1


# --- Who sees what ----------------------------------------------------------------------


def test_the_request_page_is_for_the_buyer_the_shop_and_staff_and_a_404_for_everyone_else(sale, staff):
    # given a request with a photo
    case = open_request(sale, photos=[photo()])
    evidence = case.evidence.get()
    other_shop_owner = make_shop().owner
    outsiders = [UserFactory(), other_shop_owner]

    # then its people see it, each with their own actions
    buyer_page = _as(sale.buyer).get(f"/after-sales/{case.pk}/")
    shop_page = _as(sale.shop.owner).get(f"/after-sales/{case.pk}/")
    staff_page = _as(staff).get(f"/after-sales/{case.pk}/")
    assert buyer_page.context["actions"] == {"withdraw", "message"}
    assert shop_page.context["actions"] == {"accept", "propose", "reject", "message"}
    assert staff_page.context["actions"] == {"message"}
    assert "Refund ¥100.00 now" in _text(shop_page) and "Refund ¥100.00 now" not in _text(buyer_page)

    # and everyone else gets a 404: the page, the order form, every action and the photo
    for outsider in outsiders:
        other = _as(outsider)
        assert other.get(f"/after-sales/{case.pk}/").status_code == 404
        assert other.get(f"/orders/{sale.pk}/lines/{sale.lines.get().pk}/after-sales/").status_code == 404
        for action in ("accept", "propose", "reject", "withdraw", "escalate", "messages", "accept-offer"):
            assert other.post(f"/after-sales/{case.pk}/{action}/", {"message-body": "hello there"}).status_code == 404
        assert other.get(f"/after-sales/evidence/{evidence.pk}/").status_code == 404
    assert _state(case)[0] == Status.OPEN and not Message.objects.exists()
    anonymous = Client()
    assert anonymous.get(f"/after-sales/{case.pk}/").status_code == 302
    assert anonymous.get(f"/after-sales/evidence/{evidence.pk}/").status_code == 302


def test_evidence_is_served_only_through_the_checked_view_and_never_from_media(sale, staff):
    # given
    case = open_request(sale, photos=[photo()])
    evidence = case.evidence.get()
    # then the file lives outside MEDIA_ROOT
    assert str(settings.PRIVATE_MEDIA_ROOT) in evidence.image.path
    assert not evidence.image.path.startswith(str(settings.MEDIA_ROOT) + "/")
    # and the buyer, the shop and staff get the JPEG
    for user in (sale.buyer, sale.shop.owner, staff):
        response = _as(user).get(f"/after-sales/evidence/{evidence.pk}/")
        assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
        assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    # and a guessed id is a 404 like anyone else's
    assert _as(sale.buyer).get(f"/after-sales/evidence/{evidence.pk + 1000}/").status_code == 404
    assert _as(sale.buyer).get(f"/after-sales/{case.pk + 1000}/").status_code == 404


def test_a_buyer_lists_only_their_own_requests(client, sale):
    mine = open_request(sale)
    other_sale, _ = shipped_sale(client)
    theirs = open_request(other_sale)
    page = _as(sale.buyer).get("/after-sales/")
    assert [c.pk for c in page.context["requests"]] == [mine.pk]
    assert f"/after-sales/{theirs.pk}/" not in _text(page)


def test_the_merchant_inbox_puts_open_requests_first_nearest_deadline_first(client):
    # given three requests on one shop: closed, open with a far deadline, open with a near one
    shop = make_shop()
    closed, far, near = (open_request(shipped_sale(client, shop=shop)[0]) for _ in range(3))
    services.after_sales_withdraw(request_id=closed.pk, buyer=closed.buyer)
    AfterSalesRequest.objects.filter(pk=near.pk).update(deadline_at=timezone.now() + timedelta(hours=3, minutes=5))
    other_shop_case = open_request(shipped_sale(client)[0])
    # when the merchant opens the inbox
    page = _as(shop.owner).get("/merchant/after-sales/")
    # then
    assert [c.pk for c in page.context["requests"]] == [near.pk, far.pk, closed.pk]
    assert "Answer within 3 h 4 min" in _text(page)
    assert f"/after-sales/{other_shop_case.pk}/" not in _text(page)
    # and the dashboard links to it with the open count
    dashboard = _as(shop.owner).get("/merchant/")
    assert 'href="/merchant/after-sales/">After-sales <span class="badge badge-warn">2 open</span>' in _text(dashboard)


# --- Each action through its form --------------------------------------------------------


def test_the_shop_accepts_a_refund_and_both_sides_see_it_refunded(sale):
    case = open_request(sale)
    response = _as(sale.shop.owner).post(f"/after-sales/{case.pk}/accept/")
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.REFUNDED and case.refunded_minor == 10_000
    page = _as(sale.buyer).get(f"/after-sales/{case.pk}/")
    assert page.context["money"]["refunded"] == 10_000
    assert '<th scope="row">Refunded</th><td>−¥100.00</td>' in _text(page)
    books_ok()


def test_a_return_goes_address_then_tracking_then_arrival(sale):
    # given a return request
    case = open_request(sale, kind="return_refund", reason="wrong_item")
    shop, buyer = _as(sale.shop.owner), _as(sale.buyer)

    # when the shop accepts without an address, it is asked for one and nothing moves
    before = _state(case)
    response = shop.post(f"/after-sales/{case.pk}/accept/", {"accept-return_address": "  "})
    assert response.context["forms"]["accept"].errors["return_address"] == [
        "The return address needs at least 10 characters."
    ]
    assert _state(case) == before

    # and with an address the buyer is asked to send it back
    shop.post(f"/after-sales/{case.pk}/accept/", {"accept-return_address": "Misty Tea, 9 Hill Road, Fuzhou"})
    case.refresh_from_db()
    assert (case.status, case.return_address) == (Status.RETURN_PENDING, "Misty Tea, 9 Hill Road, Fuzhou")
    page = buyer.get(f"/after-sales/{case.pk}/")
    assert page.context["actions"] == {"return_ship", "withdraw", "message"}
    assert "The buyer must send the item back within 6 days 23 h." in _text(page)

    # when the buyer types a bad tracking number it comes back with what was typed
    before = _state(case)
    response = buyer.post(
        f"/after-sales/{case.pk}/return-sent/",
        {"return_ship-carrier": "SF Express", "return_ship-tracking_number": "#1"},
    )
    assert response.context["forms"]["return_ship"].errors["tracking_number"] == [
        "Enter the tracking number: 4 to 60 letters and digits."
    ]
    assert 'value="SF Express"' in _text(response)
    assert _state(case) == before

    # and a good one moves it on
    buyer.post(
        f"/after-sales/{case.pk}/return-sent/",
        {"return_ship-carrier": "SF Express", "return_ship-tracking_number": "SF99887766"},
    )
    case.refresh_from_db()
    assert (case.status, case.return_tracking_number) == (Status.RETURN_SHIPPED, "SF99887766")

    # then the shop confirms the arrival and the buyer is refunded
    shop.post(f"/after-sales/{case.pk}/return-received/")
    case.refresh_from_db()
    assert case.status == Status.REFUNDED and case.refunded_minor == 10_000
    books_ok()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("100.00", "An offer must be less than the ¥100.00 asked for"),
        ("abc", "is not an amount"),
        ("", "This field is required."),
    ],
)
def test_a_bad_offer_is_refused_beside_the_amount(sale, amount, message):
    case = open_request(sale)
    before = _state(case)
    response = _as(sale.shop.owner).post(
        f"/after-sales/{case.pk}/propose/", {"propose-amount_minor": amount, "propose-note": "Half back for the dent"}
    )
    assert response.status_code == 200
    assert any(message in e for e in response.context["forms"]["propose"].errors["amount_minor"])
    assert "Half back for the dent" in _text(response)
    assert _state(case) == before


def test_the_shop_offers_less_and_the_buyer_accepts_the_offer(sale):
    case = open_request(sale)
    _as(sale.shop.owner).post(
        f"/after-sales/{case.pk}/propose/", {"propose-amount_minor": "30.00", "propose-note": "Half back for the dent"}
    )
    page = _as(sale.buyer).get(f"/after-sales/{case.pk}/")
    assert page.context["actions"] == {"offer_accept", "escalate", "withdraw", "message"}
    assert "The shop offers <strong>¥30.00</strong>" in _text(page)
    response = _as(sale.buyer).post(f"/after-sales/{case.pk}/accept-offer/")
    assert "Offer accepted. The refund is on its way back to you." in _messages(response)
    case.refresh_from_db()
    assert case.status == Status.REFUNDED and case.refunded_minor == 3_000
    books_ok()


def test_the_shop_rejects_with_photos_and_the_buyer_escalates(sale):
    case = open_request(sale)
    shop, buyer = _as(sale.shop.owner), _as(sale.buyer)

    # a short reason, or a file that is not a photo, is refused and nothing moves
    before = _state(case)
    response = shop.post(f"/after-sales/{case.pk}/reject/", {"reject-note": "No."})
    assert response.context["forms"]["reject"].errors["note"] == [
        "The reason for rejecting needs at least 10 characters."
    ]
    note = "It left us packed in foam; see the photo of the box."
    fake = SimpleUploadedFile("box.jpg", b"GIF89a but not really", content_type="image/jpeg")
    response = shop.post(f"/after-sales/{case.pk}/reject/", {"reject-note": note, "reject-photos": [fake]})
    assert response.context["forms"]["reject"].errors["photos"][0].startswith("box.jpg: ")
    assert note in _text(response)
    assert _state(case) == before

    # when it rejects properly, with a photo
    shop.post(f"/after-sales/{case.pk}/reject/", {"reject-note": note, "reject-photos": [photo("box.jpg")]})
    case.refresh_from_db()
    assert case.status == Status.REJECTED
    message = Message.objects.get(request=case)
    assert (message.author, message.body, message.evidence.count()) == (sale.shop.owner, note, 1)

    # then the buyer sees the rejection with its photo and can escalate
    page = buyer.get(f"/after-sales/{case.pk}/")
    assert page.context["actions"] == {"escalate", "withdraw", "message"}
    assert note in _text(page) and f"/after-sales/evidence/{message.evidence.get().pk}/" in _text(page)
    response = buyer.post(f"/after-sales/{case.pk}/escalate/", {"escalate-note": "Too short"})
    assert response.context["forms"]["escalate"].errors["note"]
    assert not Dispute.objects.exists()
    buyer.post(f"/after-sales/{case.pk}/escalate/", {"escalate-note": "The box was crushed on arrival, see my photos."})
    case.refresh_from_db()
    dispute = Dispute.objects.get(request=case)
    assert case.status == Status.ESCALATED and dispute.status == Dispute.Status.OPEN
    page = buyer.get(f"/after-sales/{case.pk}/")
    assert "Circle Market decides within 59 days 23 h." in _text(page)
    assert page.context["actions"] == {"message"}


def test_the_buyer_withdraws(sale):
    case = open_request(sale)
    response = _as(sale.buyer).post(f"/after-sales/{case.pk}/withdraw/")
    assert "Request withdrawn." in _messages(response)
    case.refresh_from_db()
    assert case.status == Status.WITHDRAWN and not Order.objects.get(pk=sale.pk).is_held


def test_all_three_post_messages_with_photos_and_bad_ones_are_refused(sale, staff):
    # given
    case = open_request(sale)
    # when each side posts
    for user, body in ((sale.buyer, "Any news?"), (sale.shop.owner, "Looking into it."), (staff, "Staff here.")):
        response = _as(user).post(
            f"/after-sales/{case.pk}/messages/", {"message-body": body, "message-photos": [photo()]}
        )
        assert response.status_code == 302
    # then the thread shows who said what, with the photos
    page = _as(sale.buyer).get(f"/after-sales/{case.pk}/")
    text = _text(page)
    assert (
        "<strong>Buyer</strong>" in text
        and "<strong>Shop</strong>" in text
        and "<strong>Circle Market</strong>" in text
    )
    assert Evidence.objects.filter(request=case, message__isnull=False).count() == 3
    # and an empty message or a non-image is refused with nothing saved
    before = _state(case)
    response = _as(sale.buyer).post(f"/after-sales/{case.pk}/messages/", {"message-body": ""})
    assert response.context["forms"]["message"].errors["body"] == ["This field is required."]
    fake = SimpleUploadedFile("x.png", b"\x89PNG but broken", content_type="image/png")
    response = _as(sale.buyer).post(
        f"/after-sales/{case.pk}/messages/", {"message-body": "Here it is", "message-photos": [fake]}
    )
    assert response.context["forms"]["message"].errors["photos"][0].startswith("x.png: ")
    assert "Here it is" in _text(response)
    assert _state(case) == before


def test_an_action_the_status_no_longer_allows_is_a_message_and_changes_nothing(sale):
    # given a rejected request
    case = open_request(sale)
    services.after_sales_reject(request_id=case.pk, merchant=sale.shop.owner, note="We checked the parcel twice.")
    before = _state(case)
    shop, buyer = _as(sale.shop.owner), _as(sale.buyer)
    # when the shop tries to accept or offer, and the buyer to accept an offer that does not exist
    accept = shop.post(f"/after-sales/{case.pk}/accept/")
    offer = shop.post(f"/after-sales/{case.pk}/propose/", {"propose-amount_minor": "10.00", "propose-note": "ok"})
    offer_accept = buyer.post(f"/after-sales/{case.pk}/accept-offer/")
    # then each is told why, on the fresh page
    assert "This request is rejected by the shop; it cannot be accepted." in _messages(accept)
    assert "it cannot be answered with an offer" in _messages(offer)[-1]
    assert "There is no offer to accept on this request." in _messages(offer_accept)
    assert accept.status_code == offer.status_code == offer_accept.status_code == 302
    # and a message on a closed request is refused too
    services.after_sales_withdraw(request_id=case.pk, buyer=sale.buyer)
    response = buyer.post(f"/after-sales/{case.pk}/messages/", {"message-body": "one more thing"})
    assert "This request is closed; messages can no longer be added." in _messages(response)
    case.refresh_from_db()
    assert before[0] == Status.REJECTED and case.status == Status.WITHDRAWN
    assert Message.objects.filter(request=case).count() == 1


def test_the_other_sides_action_is_refused_with_a_message(sale):
    case = open_request(sale)
    before = _state(case)
    response = _as(sale.buyer).post(f"/after-sales/{case.pk}/accept/")
    assert "Only the shop can do this." in _messages(response)
    response = _as(sale.shop.owner).post(f"/after-sales/{case.pk}/withdraw/")
    assert "Only the buyer can do this." in _messages(response)
    assert _state(case) == before


# --- Staff console ----------------------------------------------------------------------


def _escalated(sale):
    case = open_request(sale, photos=[photo()])
    services.after_sales_reject(
        request_id=case.pk, merchant=sale.shop.owner, note="Packed in foam; it left us whole.", photos=[photo()]
    )
    return services.after_sales_escalate(request_id=case.pk, user=sale.buyer, note="The box was crushed on arrival.")


def test_the_console_is_a_404_for_everyone_but_staff(sale):
    dispute = _escalated(sale)
    urls = ["/staff/disputes/", f"/staff/disputes/{dispute.pk}/", f"/staff/shops/{sale.shop_id}/sanctions/"]
    for user in (sale.buyer, sale.shop.owner, UserFactory()):
        client = _as(user)
        for url in urls:
            assert client.get(url).status_code == 404
        assert client.post(f"/staff/disputes/{dispute.pk}/rule/", {"outcome": "full_refund"}).status_code == 404
    for url in urls:
        assert Client().get(url).status_code == 404
    assert Dispute.objects.get().status == Dispute.Status.OPEN


def test_the_queue_lists_open_disputes_by_decision_date_with_amounts(client, sale, staff):
    # given two disputes, the second due first
    first = _escalated(sale)
    second = _escalated(shipped_sale(client, price=4_000)[0])
    Dispute.objects.filter(pk=second.pk).update(decide_by=timezone.now() + timedelta(days=2, hours=1))
    # when
    page = _as(staff).get("/staff/disputes/")
    # then
    assert [d.pk for d in page.context["disputes"]] == [second.pk, first.pk]
    text = _text(page)
    assert "2 days 1 h left" in text or "2 days left" in text
    assert "¥40.00" in text and "¥100.00" in text


def test_staff_see_everything_on_one_screen_and_rule_a_partial_refund(sale, staff):
    # given an escalated request with photos from both sides
    dispute = _escalated(sale)
    console = _as(staff)
    page = console.get(f"/staff/disputes/{dispute.pk}/")
    text = _text(page)
    assert page.status_code == 200 and page.context["form"] is not None
    for evidence in Evidence.objects.all():
        assert f"/after-sales/evidence/{evidence.pk}/" in text
    assert "Packed in foam; it left us whole." in text and "The box was crushed on arrival." in text
    assert DESCRIPTION in text and "Where the money goes" in text and "SF1234567" in text

    # when staff rule a partial refund with a bad amount or no reason, the form says so and nothing moves
    for data, field, message in [
        ({"outcome": "partial_refund", "amount_minor": "", "reason": "Both share the blame here."}, "amount_minor",
         "Enter the amount as a number."),
        ({"outcome": "partial_refund", "amount_minor": "100.00", "reason": "Both share the blame here."},
         "amount_minor", "A partial refund must be less than the ¥100.00 asked for."),
        ({"outcome": "partial_refund", "amount_minor": "forty", "reason": "Both share the blame here."},
         "amount_minor", "is not an amount"),
        ({"outcome": "partial_refund", "amount_minor": "40.00", "reason": ""}, "reason", "This field is required."),
        ({"outcome": "keep_it", "amount_minor": "40.00", "reason": "Both share the blame here."}, "outcome",
         "Select a valid choice."),
    ]:  # fmt: skip
        response = console.post(f"/staff/disputes/{dispute.pk}/rule/", data)
        assert response.status_code == 200
        assert any(message in e for e in response.context["form"].errors[field]), response.context["form"].errors
        if data["reason"]:
            assert data["reason"] in _text(response)
        dispute.refresh_from_db()
        assert dispute.status == Dispute.Status.OPEN and not Refund.objects.exists()

    # and a good ruling refunds that amount
    response = console.post(
        f"/staff/disputes/{dispute.pk}/rule/",
        {"outcome": "partial_refund", "amount_minor": "40.00", "reason": "Both share the blame here."},
    )
    assert response.status_code == 302
    dispute.refresh_from_db()
    assert (dispute.status, dispute.outcome, dispute.outcome_minor) == ("ruled", "partial_refund", 4_000)

    # then both sides see the ruling and the refund on the request page
    for user in (sale.buyer, sale.shop.owner):
        page = _as(user).get(f"/after-sales/{dispute.request_id}/")
        text = _text(page)
        assert "<strong>Partial refund to the buyer</strong>: ¥40.00" in text
        assert "Both share the blame here." in text
        assert page.context["money"]["refunded"] == 4_000
    # and ruling again is refused
    response = console.post(
        f"/staff/disputes/{dispute.pk}/rule/",
        {"outcome": "full_refund", "amount_minor": "", "reason": "Changed my mind about it."},
    )
    assert "This dispute is already closed." in _messages(response)
    assert Refund.objects.count() == 1
    books_ok()


def test_a_chargeback_shows_its_status_and_no_ruling_form(sale, staff):
    dispute = Dispute.objects.create(
        order=sale, shop=sale.shop, source=Dispute.Source.CHARGEBACK, chargeback_minor=10_000,
        decide_by=timezone.now() + timedelta(days=60), stripe_dispute_id=f"dp_1:{sale.pk}",
    )  # fmt: skip
    page = _as(staff).get(f"/staff/disputes/{dispute.pk}/")
    assert page.status_code == 200 and page.context["form"] is None
    assert "Card chargeback" in _text(page) and "There is nothing to rule." in _text(page)
    response = _as(staff).post(
        f"/staff/disputes/{dispute.pk}/rule/",
        {"outcome": "full_refund", "amount_minor": "", "reason": "Trying to rule a chargeback."},
    )
    assert "A chargeback is decided by the card issuer, not here." in _messages(response)
    assert Dispute.objects.get(pk=dispute.pk).status == Dispute.Status.OPEN


# --- Sanctions --------------------------------------------------------------------------


def test_staff_freeze_listings_the_shop_page_says_so_and_lifting_restores_it(staff):
    # given a shop
    shop = make_shop(name="Dodgy Dumplings")
    console = _as(staff)
    url = f"/staff/shops/{shop.pk}/sanctions/"
    last_day = (timezone.localdate() + timedelta(days=30)).isoformat()

    # when staff send bad input, the form says why and nothing is imposed
    for data, field, message in [
        ({"kind": "listing_freeze", "reason": "Too short", "ends_at": last_day}, "reason",
         "The public reason needs at least 10 characters."),
        ({"kind": "listing_freeze", "reason": "Three lost disputes this month.", "ends_at": "2001-01-01"},
         "ends_at", "The end date must be in the future."),
        ({"kind": "listing_freeze", "reason": "Three lost disputes this month.", "ends_at": "soon"},
         "ends_at", "Enter a valid date."),
        ({"kind": "banishment", "reason": "Three lost disputes this month.", "ends_at": last_day},
         "kind", "Select a valid choice."),
    ]:  # fmt: skip
        response = console.post(url, data)
        assert response.status_code == 200
        assert any(message in e for e in response.context["form"].errors[field]), response.context["form"].errors
        assert data["reason"] in _text(response)
    assert not Sanction.objects.exists()

    # when staff freeze its listings
    response = console.post(
        url, {"kind": "listing_freeze", "reason": "Three lost disputes this month.", "ends_at": last_day}
    )
    assert response.status_code == 302
    sanction = Sanction.objects.get()
    shop.refresh_from_db()
    assert shop.status == Shop.Status.FROZEN

    # then the public shop page reads as frozen, not suspended, with the sanction and its end
    page = Client().get(f"/s/{shop.slug}/")
    text = _text(page)
    assert "This shop's listings are frozen" in text and "suspended" not in text.lower()
    assert f"<strong>Listings frozen</strong> until {sanction.ends_at.strftime('%b')}" in text
    assert "Three lost disputes this month." in text and f'href="/s/{shop.slug}/record/"' in text

    # when staff lift it
    console.post(f"/staff/sanctions/{sanction.pk}/lift/")
    shop.refresh_from_db()
    sanction.refresh_from_db()
    assert shop.status == Shop.Status.ACTIVE and sanction.lifted_by == staff

    # then the shop page no longer lists it but the public record keeps it
    assert "Three lost disputes this month." not in _text(Client().get(f"/s/{shop.slug}/"))
    record = _text(Client().get(f"/s/{shop.slug}/record/"))
    assert "Three lost disputes this month." in record and "(lifted early)" in record
    # and lifting twice is a message, not an error page
    response = console.post(f"/staff/sanctions/{sanction.pk}/lift/")
    assert "This sanction has already ended." in _messages(response)


def test_sanction_pages_are_staff_only(staff):
    shop = make_shop()
    services.sanction_impose(
        shop_id=shop.pk, kind="warning", reason="Slow replies to buyers.", admin=staff,
        ends_at=timezone.now() + timedelta(days=3),
    )  # fmt: skip
    sanction = Sanction.objects.get()
    for user in (shop.owner, UserFactory()):
        assert _as(user).post(f"/staff/sanctions/{sanction.pk}/lift/").status_code == 404
        assert _as(user).post(f"/staff/shops/{shop.pk}/sanctions/", {"kind": "suspension"}).status_code == 404
    sanction.refresh_from_db()
    assert sanction.ended_at is None and Sanction.objects.count() == 1


def test_the_queue_suggests_a_sanction_for_a_shop_that_keeps_losing(client, sale, staff, settings):
    # given a shop that lost a dispute, with the threshold at one
    settings.MARKETPLACE_SANCTION_SUGGEST_LOSSES = 1
    dispute = _escalated(sale)
    services.dispute_rule(dispute_id=dispute.pk, admin=staff, outcome="full_refund", reason="Crushed box, refund.")
    # then the queue suggests it, linking to its sanctions page
    page = _as(staff).get("/staff/disputes/")
    assert [s["shop"] for s in page.context["suggestions"]] == [sale.shop]
    assert f'href="/staff/shops/{sale.shop_id}/sanctions/">{sale.shop.name}</a>: 1 disputes lost' in _text(page)
