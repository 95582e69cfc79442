"""Who may do what to a request or dispute, and input that is refused: each refusal is a
clear error and leaves the money, the cases and the files exactly as they were."""

import io
import os

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404

from disputes import selectors, services
from disputes.models import AfterSalesRequest, CaseEvent, Dispute, Evidence, Message
from marketplace.errors import ConflictError, DomainError
from orders import services as order_services
from orders.models import Order, OrderLine
from payments.models import LedgerEntry, Refund
from payments.services import refund_create
from shops.models import Product
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import books_ok, pay, photo, place, settle_received, shipped_sale

pytestmark = pytest.mark.django_db

DESCRIPTION = "The parcel arrived crushed and wet."


def open_request(order, *, amount=4_000, kind="partial_refund", reason="damaged", photos=(), buyer=None, line=None):
    return services.after_sales_open(
        buyer=buyer or order.buyer,
        line_id=(line or order.lines.get()).pk,
        kind=kind,
        reason=reason,
        description=DESCRIPTION,
        amount_minor=amount,
        photos=photos,
    )


def _state(order) -> dict:
    """Everything a refused call must leave unchanged."""
    order.refresh_from_db()
    return {
        "order": (order.status, order.refunded_minor, order.is_held, order.held_reason),
        "refunds": Refund.objects.count(),
        "ledger": (LedgerEntry.objects.count(), sorted(LedgerEntry.objects.values_list("account_id", "amount_minor"))),
        "requests": list(AfterSalesRequest.objects.order_by("pk").values_list("pk", "status", "refunded_minor")),
        "disputes": list(Dispute.objects.order_by("pk").values_list("pk", "status", "outcome")),
        "events": CaseEvent.objects.count(),
        "messages": Message.objects.count(),
        "evidence": Evidence.objects.count(),
        "files": _evidence_files(),
    }


def _evidence_files() -> list[str]:
    root = os.path.join(settings.PRIVATE_MEDIA_ROOT, "evidence")
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def _refused(order, call, error, message):
    before = _state(order)
    with pytest.raises(error) as caught:
        call()
    if message is not None:
        assert str(caught.value) == message
    assert _state(order) == before
    return caught.value


@pytest.fixture
def case(client):
    """A shipped order (10,000 + shipping) with an open request for 40.00, and a stranger's own
    shop and order to try things from."""
    order, _ = shipped_sale(client, price=10_000)
    request = open_request(order, photos=[photo()])
    other_order, _ = shipped_sale(client, price=5_000)
    return order, request, other_order


# --- Authorization ------------------------------------------------------------------------


def test_a_merchant_cannot_rule_on_a_dispute_about_their_own_shop(case):
    # given an escalated request
    order, request, _ = case
    services.after_sales_reject(request_id=request.pk, merchant=order.shop.owner, note="It left us intact.")
    dispute = services.after_sales_escalate(request_id=request.pk, user=order.buyer, note="It arrived broken.")
    # when the shop (or the buyer) tries to rule, then it is refused and nothing moves
    for user in (order.shop.owner, order.buyer, None):
        _refused(
            order,
            lambda u=user: services.dispute_rule(
                dispute_id=dispute.pk, admin=u, outcome="release", reason="The shop says the parcel left intact."
            ),
            PermissionDenied,
            "Only Circle Market staff can rule on a dispute.",
        )


def test_a_merchant_cannot_act_on_another_shops_request(case):
    order, request, other_order = case
    stranger = other_order.shop.owner
    calls = [
        lambda: services.after_sales_accept(request_id=request.pk, merchant=stranger, return_address="1 Other Road"),
        lambda: services.after_sales_propose(request_id=request.pk, merchant=stranger, amount_minor=100, note="Cheap"),
        lambda: services.after_sales_reject(request_id=request.pk, merchant=stranger, note="Not our problem at all."),
        lambda: services.after_sales_return_receive(request_id=request.pk, merchant=stranger),
        lambda: services.after_sales_escalate(request_id=request.pk, user=stranger, note="Please look at this one."),
        lambda: services.after_sales_message_post(request_id=request.pk, user=stranger, body="Hello there"),
    ]
    for call in calls:
        _refused(order, call, AfterSalesRequest.DoesNotExist, None)


def test_a_buyer_cannot_act_on_another_buyers_request(case):
    order, request, other_order = case
    stranger = other_order.buyer
    calls = [
        lambda: services.after_sales_offer_accept(request_id=request.pk, buyer=stranger),
        lambda: services.after_sales_withdraw(request_id=request.pk, buyer=stranger),
        lambda: services.after_sales_return_ship(
            request_id=request.pk, buyer=stranger, carrier="YTO", tracking_number="YT9988"
        ),
        lambda: services.after_sales_escalate(request_id=request.pk, user=stranger, note="Please look at this one."),
        lambda: services.after_sales_message_post(request_id=request.pk, user=stranger, body="Hello there"),
        lambda: services.after_sales_accept(request_id=request.pk, merchant=stranger, return_address="1 Any Road"),
        # ...nor open one on a line of an order that is not theirs
        lambda: open_request(order, buyer=stranger),
    ]
    for call in calls[:-1]:
        _refused(order, call, AfterSalesRequest.DoesNotExist, None)
    _refused(order, calls[-1], OrderLine.DoesNotExist, None)


def test_each_side_may_only_take_its_own_steps(case):
    order, request, _ = case
    merchant, buyer = order.shop.owner, order.buyer
    services.after_sales_propose(request_id=request.pk, merchant=merchant, amount_minor=1_000, note="Ten back?")
    _refused(
        order,
        lambda: services.after_sales_offer_accept(request_id=request.pk, buyer=merchant),
        PermissionDenied,
        "Only the buyer can do this.",
    )
    _refused(
        order,
        lambda: services.after_sales_withdraw(request_id=request.pk, buyer=merchant),
        PermissionDenied,
        "Only the buyer can do this.",
    )
    _refused(
        order,
        lambda: services.after_sales_accept(request_id=request.pk, merchant=buyer),
        PermissionDenied,
        "Only the shop can do this.",
    )
    staff = UserFactory(is_staff=True)
    _refused(
        order,
        lambda: services.after_sales_escalate(request_id=request.pk, user=staff, note="Staff step in."),
        PermissionDenied,
        "Only the buyer or the shop can escalate.",
    )


def test_reads_of_a_case_are_a_404_for_anyone_but_its_buyer_shop_and_staff(case):
    # given a request with a photo
    order, request, other_order = case
    evidence = request.evidence.get()
    from django.contrib.auth.models import AnonymousUser

    # then the buyer, the shop and staff see it
    for user in (order.buyer, order.shop.owner, UserFactory(is_staff=True)):
        assert selectors.after_sales_get_for(user=user, request_id=request.pk) == request
        assert selectors.evidence_get_for(user=user, evidence_id=evidence.pk) == evidence
    # and another buyer, another shop, a stranger and a visitor get a 404
    for user in (other_order.buyer, other_order.shop.owner, UserFactory(), AnonymousUser(), None):
        with pytest.raises(Http404):
            selectors.after_sales_get_for(user=user, request_id=request.pk)
        with pytest.raises(Http404):
            selectors.evidence_get_for(user=user, evidence_id=evidence.pk)
    # and a list shows only one's own
    assert list(selectors.after_sales_list_for_buyer(buyer=other_order.buyer)) == []
    assert list(selectors.after_sales_list_for_shop(shop=other_order.shop)) == []


def test_only_staff_impose_or_lift_sanctions(case):
    from datetime import timedelta

    from django.utils import timezone

    order, _, _ = case
    admin = UserFactory(is_staff=True)
    ends_at = timezone.now() + timedelta(days=7)
    for user in (order.shop.owner, order.buyer, None):
        with pytest.raises(PermissionDenied, match="Only Circle Market staff can sanction a shop."):
            services.sanction_impose(
                shop_id=order.shop_id, kind="warning", reason="Late shipping, again.", ends_at=ends_at, admin=user
            )
    sanction = services.sanction_impose(
        shop_id=order.shop_id, kind="warning", reason="Late shipping, again.", ends_at=ends_at, admin=admin
    )
    with pytest.raises(PermissionDenied, match="Only Circle Market staff can lift a sanction."):
        services.sanction_lift(sanction_id=sanction.pk, admin=order.shop.owner)
    sanction.refresh_from_db()
    assert sanction.ended_at is None


# --- Bad input ------------------------------------------------------------------------------


def test_a_request_for_more_than_was_paid_is_refused(client):
    order, _ = shipped_sale(client, price=10_000)
    total = order.total_minor
    _refused(
        order,
        lambda: open_request(order, amount=total + 1),
        DomainError,
        f"You can ask for at most ¥{total / 100:,.2f}: what you paid for this order less what is refunded "
        "or already asked for.",
    )
    # and a refund straight through payments is refused the same way
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        _refused(
            order,
            lambda: refund_create(order=locked, amount_minor=total + 1, reason="Too much"),
            DomainError,
            f"A refund must be between 0.01 and what is still held ({total} minor units).",
        )


def test_a_request_may_not_ask_for_more_than_is_left_after_other_open_requests(client):
    # given an order of two lines, one of them with a request for most of the order open
    product_a = make_product(price_minor=6_000, stock=5)
    product_b = make_product(price_minor=4_000, stock=5, shop=product_a.shop)
    buyer = UserFactory()
    order = pay(client, place(buyer, (product_a.variants.get(), 1), (product_b.variants.get(), 1))).orders.get()
    order_services.order_ship(order_id=order.pk, merchant=order.shop.owner, carrier="SF", tracking_number="SF12345")
    line_a, line_b = order.lines.order_by("pk")
    open_request(order, amount=order.total_minor - 1_000, line=line_a)
    # then the other line may ask for at most what is left
    _refused(
        order,
        lambda: open_request(order, amount=1_001, line=line_b),
        DomainError,
        "You can ask for at most ¥10.00: what you paid for this order less what is refunded or already asked for.",
    )
    assert open_request(order, amount=1_000, line=line_b).amount_minor == 1_000


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (0, "The amount must be more than zero."),
        (-500, "The amount must be more than zero."),
        ("40.00", "Enter the amount as a number."),
        (40.0, "Enter the amount as a number."),
        (True, "Enter the amount as a number."),
        (None, "Enter the amount as a number."),
    ],
)
def test_an_amount_that_is_not_a_positive_whole_number_of_cents_is_refused(client, amount, message):
    order, _ = shipped_sale(client)
    _refused(order, lambda: open_request(order, amount=amount), DomainError, message)


def test_a_request_after_settlement_is_refused(client):
    order, _ = shipped_sale(client)
    order = settle_received(order)
    assert order.status == Order.Status.SETTLED
    _refused(
        order,
        lambda: open_request(order),
        ConflictError,
        "The after-sales window of this order has closed and the shop has been paid.",
    )


def test_a_request_after_the_after_sales_window_is_refused(client):
    from datetime import timedelta

    from django.utils import timezone

    order, _ = shipped_sale(client)
    order_services.order_confirm_receipt(order_id=order.pk, buyer=order.buyer)
    Order.objects.filter(pk=order.pk).update(after_sales_ends_at=timezone.now() - timedelta(seconds=1))
    _refused(order, lambda: open_request(order), ConflictError, "The after-sales window of this order has closed.")


def test_a_request_on_a_paid_order_not_yet_shipped_is_refused(client):
    product = make_product(price_minor=10_000)
    buyer = UserFactory()
    order = pay(client, place(buyer, (product.variants.get(), 1))).orders.get()
    assert order.status == Order.Status.PAID
    _refused(
        order,
        lambda: open_request(order),
        ConflictError,
        "This order has not shipped yet: cancel it instead for a full refund at once.",
    )


def test_a_second_open_request_on_the_same_line_is_refused(case):
    order, request, _ = case
    _refused(
        order,
        lambda: open_request(order, amount=1_000),
        ConflictError,
        "There is already an open request for this item.",
    )
    # once the first is closed, a new one may be opened
    services.after_sales_withdraw(request_id=request.pk, buyer=order.buyer)
    assert open_request(order, amount=1_000).status == AfterSalesRequest.Status.OPEN


def _upload(content: bytes, name: str):
    upload = io.BytesIO(content)
    upload.name = name
    return upload


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            _upload(b"just some text, not a photo at all\n" * 20, "receipt.jpg"),
            "receipt.jpg: This file is not a picture we can read. Upload a JPEG, PNG, WebP or HEIC photo.",
        ),
        (_upload(SVG, "broken.jpg"), "broken.jpg: SVG files are not accepted. Upload a JPEG, PNG, WebP or HEIC photo."),
        (_upload(b"", "empty.jpg"), "empty.jpg: The file is empty."),
    ],
    ids=["text", "svg", "empty"],
)
def test_evidence_that_is_not_a_photo_is_refused_and_nothing_is_stored(client, upload, message):
    # given a shipped order and a request with one good photo already on another case
    order, _ = shipped_sale(client)
    # when the buyer opens a request with a good photo and a bad one
    error = _refused(order, lambda: open_request(order, photos=[photo(), upload]), DomainError, message)
    # then the error names the field for the form
    assert error.field == "photos"


def test_evidence_that_is_not_a_photo_is_refused_in_a_message_and_on_a_rejection(case):
    order, request, _ = case
    bad = _upload(SVG, "proof.jpg")
    _refused(
        order,
        lambda: services.after_sales_message_post(
            request_id=request.pk, user=order.buyer, body="See the picture", photos=[bad]
        ),
        DomainError,
        "proof.jpg: SVG files are not accepted. Upload a JPEG, PNG, WebP or HEIC photo.",
    )
    bad.seek(0)
    _refused(
        order,
        lambda: services.after_sales_reject(
            request_id=request.pk, merchant=order.shop.owner, note="It left our shop intact.", photos=[bad]
        ),
        DomainError,
        "proof.jpg: SVG files are not accepted. Upload a JPEG, PNG, WebP or HEIC photo.",
    )


def test_too_many_photos_are_refused(client):
    order, _ = shipped_sale(client)
    photos = [photo(f"p{i}.jpg") for i in range(services.MAX_PHOTOS + 1)]
    _refused(order, lambda: open_request(order, photos=photos), DomainError, "Attach at most 6 photos.")
    # six are fine
    assert open_request(order, photos=photos[:6]).evidence.count() == 6


def test_a_ruling_on_a_closed_dispute_is_refused(case):
    # given a dispute already ruled
    order, request, _ = case
    admin = UserFactory(is_staff=True)
    services.after_sales_reject(request_id=request.pk, merchant=order.shop.owner, note="It left us intact.")
    dispute = services.after_sales_escalate(request_id=request.pk, user=order.buyer, note="It arrived broken.")
    services.dispute_rule(
        dispute_id=dispute.pk,
        admin=admin,
        outcome="partial_refund",
        amount_minor=1_000,
        reason="Photos show some damage.",
    )
    # when another ruling comes, then it is refused and no second refund is made
    for outcome, amount in (("full_refund", None), ("partial_refund", 500), ("release", None)):
        _refused(
            order,
            lambda o=outcome, a=amount: services.dispute_rule(
                dispute_id=dispute.pk, admin=admin, outcome=o, amount_minor=a, reason="A second look at it."
            ),
            ConflictError,
            "This dispute is already closed.",
        )
    assert list(Refund.objects.filter(order=order).values_list("amount_minor", flat=True)) == [1_000]
    books_ok()


@pytest.mark.parametrize("amount", [4_000, 4_001, 1_000_000])
def test_a_partial_ruling_of_at_least_the_asked_amount_is_refused(case, amount):
    order, request, _ = case
    services.after_sales_reject(request_id=request.pk, merchant=order.shop.owner, note="It left us intact.")
    dispute = services.after_sales_escalate(request_id=request.pk, user=order.buyer, note="It arrived broken.")
    _refused(
        order,
        lambda: services.dispute_rule(
            dispute_id=dispute.pk,
            admin=UserFactory(is_staff=True),
            amount_minor=amount,
            outcome="partial_refund",
            reason="Photos show some damage.",
        ),
        DomainError,
        "A partial refund must be less than the ¥40.00 asked for.",
    )


def test_a_ruling_needs_a_known_outcome_and_a_written_reason(case):
    order, request, _ = case
    services.after_sales_reject(request_id=request.pk, merchant=order.shop.owner, note="It left us intact.")
    dispute = services.after_sales_escalate(request_id=request.pk, user=order.buyer, note="It arrived broken.")
    admin = UserFactory(is_staff=True)
    _refused(
        order,
        lambda: services.dispute_rule(
            dispute_id=dispute.pk, admin=admin, outcome="chargeback_lost", reason="The buyer is right about it."
        ),
        DomainError,
        "Choose a ruling: full refund, partial refund or release to the shop.",
    )
    _refused(
        order,
        lambda: services.dispute_rule(dispute_id=dispute.pk, admin=admin, outcome="release", reason="ok"),
        DomainError,
        "The written reason needs at least 10 characters.",
    )


def test_a_chargeback_is_not_ruled_by_staff(client):
    order, _ = shipped_sale(client)
    [dispute] = services.chargeback_open(
        stripe_dispute_id="dp_bad_input",
        payment_intent_id=order.group.payment_intent_id,
        amount_minor=order.total_minor,
        reason="fraudulent",
    )
    _refused(
        order,
        lambda: services.dispute_rule(
            dispute_id=dispute.pk,
            admin=UserFactory(is_staff=True),
            outcome="full_refund",
            reason="The buyer is right about it.",
        ),
        ConflictError,
        "A chargeback is decided by the card issuer, not here.",
    )


def test_an_offer_must_be_less_than_the_request(case):
    order, request, _ = case
    _refused(
        order,
        lambda: services.after_sales_propose(
            request_id=request.pk, merchant=order.shop.owner, amount_minor=4_000, note="All of it"
        ),
        DomainError,
        "An offer must be less than the ¥40.00 asked for; to give that, accept the request.",
    )


def test_a_no_reason_return_needs_a_product_that_offers_it(client):
    order, _ = shipped_sale(client)
    _refused(
        order,
        lambda: open_request(order, kind="refund_only", reason="no_reason"),
        DomainError,
        "A no-reason request is a return: send the item back for a refund.",
    )
    Product.objects.filter(pk=order.lines.get().product_id).update(is_no_reason_return=False)
    _refused(
        order,
        lambda: open_request(order, kind="return_refund", reason="no_reason"),
        DomainError,
        "This product does not offer no-reason returns; choose the actual reason.",
    )


def test_a_request_needs_a_kind_a_reason_and_a_description(client):
    order, _ = shipped_sale(client)
    line = order.lines.get().pk
    base = {"buyer": order.buyer, "line_id": line, "amount_minor": 1_000}
    cases = [
        (
            {"kind": "refund", "reason": "damaged", "description": DESCRIPTION},
            "Choose what you want: a refund, a return and refund, or a partial refund.",
        ),
        ({"kind": "partial_refund", "reason": "bored", "description": DESCRIPTION}, "Choose a reason."),
        (
            {"kind": "partial_refund", "reason": "damaged", "description": "   broken  "},
            "The description needs at least 10 characters.",
        ),
        (
            {"kind": "partial_refund", "reason": "damaged", "description": "x" * 2001},
            "The description is too long: at most 2000 characters.",
        ),
    ]
    for fields, message in cases:
        _refused(order, lambda f=fields: services.after_sales_open(**base, **f), DomainError, message)


def test_a_shop_cannot_be_sanctioned_with_a_past_end_or_an_unknown_kind(client):
    from datetime import timedelta

    from django.utils import timezone

    shop = make_shop()
    admin = UserFactory(is_staff=True)
    with pytest.raises(DomainError, match="The end date must be in the future."):
        services.sanction_impose(
            shop_id=shop.pk,
            kind="warning",
            reason="Late shipping, again.",
            ends_at=timezone.now() - timedelta(seconds=1),
            admin=admin,
        )
    with pytest.raises(DomainError, match="Choose a sanction"):
        services.sanction_impose(
            shop_id=shop.pk,
            kind="fine",
            reason="Late shipping, again.",
            ends_at=timezone.now() + timedelta(days=1),
            admin=admin,
        )
    assert not shop.sanctions.exists()
