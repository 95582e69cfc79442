"""Checkout with bad input, through the real pages (signed-in buyer) and the API: every
refusal says what is wrong, creates no order, reserves no stock, moves no money, and no
answer is ever a 500."""

import re

import pytest
from django.contrib.messages import get_messages

from marketplace.money import money_format
from orders.models import Cart, CartItem, Order, OrderGroup
from payments.local_stripe import TEST_CARDS
from payments.models import LedgerEntry, LedgerTransaction
from payments.services import order_group_expire, payment_intent_ensure, reconcile
from shops.models import Variant
from shops.services import variant_update
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import deliver_events, place

pytestmark = pytest.mark.django_db

CHECKOUT_URL = "/checkout/"
API_CHECKOUT_URL = "/api/v1/checkout/"
ADDRESS_FORM = {
    "name": "Li Lei",
    "phone": "+86 138 0000 0000",
    "address": "1 Garden Road, Flat 2",
    "city": "Hangzhou",
    "postal_code": "310000",
}


@pytest.fixture
def buyer():
    return UserFactory()


@pytest.fixture
def buyer_client(client, buyer):
    client.force_login(buyer)
    return client


@pytest.fixture
def buyer_api(api_client, buyer):
    api_client.force_authenticate(user=buyer)
    return api_client


@pytest.fixture
def variant():
    shop = make_shop(shipping_fee_minor=700)
    return make_product(shop=shop, title="Celadon Teapot", price_minor=4999, stock=5).variants.get()


def _add_to_cart(client, variant, quantity: int = 2) -> None:
    response = client.post("/cart/add/", {"variant": variant.pk, "quantity": quantity})
    assert response.status_code == 302
    assert CartItem.objects.filter(variant=variant, quantity=quantity).exists()


def _open_checkout(client) -> dict:
    """GET the checkout page as the buyer does; the form data it would send, with its key."""
    page = client.get(CHECKOUT_URL)
    assert page.status_code == 200
    key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', page.content.decode())
    assert key, "the checkout form carries an idempotency key"
    return {**ADDRESS_FORM, "idempotency_key": key.group(1)}


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _assert_no_order_and_no_money(variant, stock: int) -> None:
    assert not OrderGroup.objects.exists()
    assert not Order.objects.exists()
    assert not LedgerTransaction.objects.exists()
    assert not LedgerEntry.objects.exists()
    variant.refresh_from_db()
    assert variant.stock == stock
    assert reconcile().ok


# --- The pages: cart gone or empty --------------------------------------------------------


@pytest.mark.parametrize("how", ["items-removed", "cart-deleted"])
def test_checkout_of_a_cart_emptied_after_the_form_opened_goes_back_to_the_cart(buyer_client, buyer, variant, how):
    # given a buyer on the checkout page with 2 teapots in the cart
    _add_to_cart(buyer_client, variant)
    form = _open_checkout(buyer_client)

    # when the cart empties (another tab, or the cart was cleaned up) and the form is sent
    if how == "items-removed":
        assert buyer_client.post("/cart/remove/", {"variant": variant.pk}).status_code == 302
    else:
        Cart.objects.filter(user=buyer).delete()
    response = buyer_client.post(CHECKOUT_URL, form)

    # then the buyer is sent to the cart with a message, and nothing was ordered
    assert response.status_code == 302
    assert response.url == "/cart/"
    assert _messages(response) == ["Your cart is empty."]
    _assert_no_order_and_no_money(variant, stock=5)


def test_opening_checkout_with_an_empty_cart_goes_back_to_the_cart(buyer_client, variant):
    response = buyer_client.get(CHECKOUT_URL, follow=True)

    assert response.redirect_chain == [("/cart/", 302)]
    assert response.status_code == 200
    assert "Your cart is empty." in response.content.decode()
    _assert_no_order_and_no_money(variant, stock=5)


def test_checkout_after_the_session_is_gone_asks_to_sign_in_and_orders_nothing(buyer_client, variant):
    # given a buyer on the checkout page
    _add_to_cart(buyer_client, variant)
    form = _open_checkout(buyer_client)

    # when the session ends (expired, or signed out in another tab) and the form is sent
    buyer_client.logout()
    response = buyer_client.post(CHECKOUT_URL, form)

    # then the buyer is asked to sign in again; nothing was ordered, the cart is kept
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=/checkout/")
    _assert_no_order_and_no_money(variant, stock=5)
    assert CartItem.objects.filter(variant=variant, quantity=2).exists()


# --- The pages: the shop changed something ------------------------------------------------


def test_a_price_change_since_adding_to_the_cart_stops_checkout_and_names_the_new_price(buyer_client, variant):
    # given 2 teapots in the cart at 49.99
    _add_to_cart(buyer_client, variant)
    form = _open_checkout(buyer_client)

    # when the shop raises the price to 53.49 before the buyer sends the checkout form
    variant_update(variant=variant, price_minor=5349)
    response = buyer_client.post(CHECKOUT_URL, form)

    # then checkout stops with a message naming the item and its new price
    assert response.status_code == 302
    assert response.url == "/cart/"
    assert _messages(response) == [
        f"Prices changed since you added them: Celadon Teapot ({variant.name}) is now {money_format(5349)}. "
        "Check the new total and pay again."
    ]
    _assert_no_order_and_no_money(variant, stock=5)

    # and the cart shows the new price and total, not the old one
    cart_page = buyer_client.get("/cart/").content.decode()
    assert money_format(5349) in cart_page
    assert f"Total {money_format(2 * 5349 + 700)}" in cart_page
    assert money_format(4999) not in cart_page

    # and a fresh checkout at the new price goes through (the refusal was about the price only)
    response = buyer_client.post(CHECKOUT_URL, _open_checkout(buyer_client))
    group = OrderGroup.objects.get()
    assert response.url == f"/pay/{group.pk}/"
    assert group.total_minor == 2 * 5349 + 700


@pytest.mark.parametrize(
    ("left", "message"),
    [(0, "Celadon Teapot ({name}) just sold out."), (1, "Only 1 of Celadon Teapot ({name}) left; lower the quantity.")],
    ids=["sold-out", "fewer-left"],
)
def test_stock_gone_since_adding_to_the_cart_stops_checkout(buyer_client, variant, left, message):
    # given 2 teapots in the cart
    _add_to_cart(buyer_client, variant)
    form = _open_checkout(buyer_client)

    # when the stock drops below 2 before the buyer sends the checkout form
    variant_update(variant=variant, stock=left)
    response = buyer_client.post(CHECKOUT_URL, form)

    # then checkout stops with a message, reserving nothing
    assert response.status_code == 302
    assert response.url == "/cart/"
    assert _messages(response) == [message.format(name=variant.name)]
    _assert_no_order_and_no_money(variant, stock=left)
    assert f"Only {left} left" in buyer_client.get("/cart/").content.decode()


# --- The pages: the address ---------------------------------------------------------------


BAD_ADDRESSES = [
    ("name", "", "This field is required."),
    ("name", "    ", "This field is required."),
    ("name", None, "This field is required."),
    ("name", "N" * 10_000, "Ensure this value has at most 80 characters (it has 10000)."),
    ("phone", "", "This field is required."),
    ("phone", "call me maybe", "Enter a phone number the courier can call (digits, 6 to 15 of them)."),
    ("phone", "12345", "Enter a phone number the courier can call (digits, 6 to 15 of them)."),
    ("phone", "1" * 33, "Ensure this value has at most 32 characters (it has 33)."),
    ("address", "x", "Enter the street address with the building and flat number."),
    ("address", "A" * 100_000, "Ensure this value has at most 300 characters (it has 100000)."),
    ("city", "Hang\x00zhou", "Null characters are not allowed."),
    ("city", "C" * 81, "Ensure this value has at most 80 characters (it has 81)."),
    ("postal_code", "9" * 500, "Ensure this value has at most 16 characters (it has 500)."),
]


@pytest.mark.parametrize(("field", "value", "error"), BAD_ADDRESSES, ids=lambda v: repr(v)[:20])
def test_a_bad_address_shows_the_form_again_with_the_error_and_orders_nothing(
    buyer_client, variant, field, value, error
):
    # given a buyer on the checkout page
    _add_to_cart(buyer_client, variant)
    form = _open_checkout(buyer_client)

    # when one address field is missing, blank, malformed or absurdly long
    if value is None:
        del form[field]
    else:
        form[field] = value
    response = buyer_client.post(CHECKOUT_URL, form)

    # then the form comes back with the error next to that field, and nothing was ordered
    assert response.status_code == 200
    assert response.context["form"].errors == {field: [error]}
    assert error in response.content.decode()
    _assert_no_order_and_no_money(variant, stock=5)
    assert CartItem.objects.filter(variant=variant, quantity=2).exists()


def test_the_same_form_with_a_good_address_is_accepted(buyer_client, variant):
    # control for the bad-address cases: the form they start from goes through
    _add_to_cart(buyer_client, variant)

    response = buyer_client.post(CHECKOUT_URL, _open_checkout(buyer_client))

    group = OrderGroup.objects.get()
    assert response.status_code == 302
    assert response.url == f"/pay/{group.pk}/"
    assert (group.ship_name, group.ship_city, group.total_minor) == ("Li Lei", "Hangzhou", 2 * 4999 + 700)
    variant.refresh_from_db()
    assert variant.stock == 3


# --- The pages: paying ----------------------------------------------------------------------


def _checkout(client, variant) -> OrderGroup:
    _add_to_cart(client, variant)
    response = client.post(CHECKOUT_URL, _open_checkout(client))
    group = OrderGroup.objects.get()
    assert response.url == f"/pay/{group.pk}/"
    return group


@pytest.mark.parametrize("card", ["pm_card_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds"])
def test_a_declined_test_card_says_so_and_leaves_the_group_unpaid(buyer_client, variant, card):
    # given a placed, unpaid checkout
    group = _checkout(buyer_client, variant)
    decline = TEST_CARDS[card][2]

    # when the buyer pays with a card that the bank declines
    response = buyer_client.post(f"/pay/{group.pk}/", {"card": card})

    # then they are back on the payment page with the bank's reason, and no money moved
    assert response.status_code == 302
    assert response.url == f"/pay/{group.pk}/"
    assert _messages(response) == [f"Payment failed: {decline} Nothing was charged; try another card."]
    assert buyer_client.get(f"/pay/{group.pk}/").status_code == 200
    # when Stripe's payment_failed event arrives
    deliver_events(buyer_client)
    # then the order notes the failure, still unpaid and with no ledger rows
    group.refresh_from_db()
    assert group.status == OrderGroup.Status.PENDING_PAYMENT
    order = group.orders.get()
    assert order.status == Order.Status.PENDING_PAYMENT
    assert list(order.events.filter(kind="payment_failed").values_list("note", flat=True)) == [decline]
    assert not LedgerTransaction.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert reconcile().ok

    # control: another card then pays the same group
    response = buyer_client.post(f"/pay/{group.pk}/", {"card": "pm_card_visa"})
    assert response.url == f"/pay/{group.pk}/done/"
    deliver_events(buyer_client)
    group.refresh_from_db()
    assert group.status == OrderGroup.Status.PAID
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_CAPTURED).count() == 1
    assert reconcile().ok


@pytest.mark.parametrize("card", ["pm_card_bogus", "", "4242424242424242"])
def test_an_unknown_test_card_is_refused_before_stripe_is_called(buyer_client, variant, card):
    group = _checkout(buyer_client, variant)

    response = buyer_client.post(f"/pay/{group.pk}/", {"card": card})

    assert response.status_code == 302
    assert response.url == f"/pay/{group.pk}/"
    assert _messages(response) == ["Choose one of the test cards."]
    group.refresh_from_db()
    assert group.status == OrderGroup.Status.PENDING_PAYMENT
    assert not LedgerEntry.objects.exists()


def test_paying_an_expired_group_is_refused_with_a_message(buyer_client, variant):
    # given a checkout whose pay-by time passed and that the sweeper expired
    group = _checkout(buyer_client, variant)
    OrderGroup.objects.filter(pk=group.pk).update(pay_by=group.created_at)
    assert order_group_expire(group_id=group.pk)

    # when the buyer comes back to pay with a good card
    response = buyer_client.post(f"/pay/{group.pk}/", {"card": "pm_card_visa"})

    # then the payment is refused with the reason, and the stock is back on sale
    assert response.status_code == 302
    assert response.url == "/orders/"
    assert _messages(response) == ["This payment was not completed in time; the items went back on sale."]
    group.refresh_from_db()
    assert group.status == OrderGroup.Status.EXPIRED
    assert not LedgerEntry.objects.exists()
    variant.refresh_from_db()
    assert variant.stock == 5


# --- The pages: double submit ---------------------------------------------------------------


def test_a_double_submitted_checkout_makes_one_group(buyer_client, variant):
    # given one checkout form (one idempotency key)
    _add_to_cart(buyer_client, variant)
    form = _open_checkout(buyer_client)

    # when it is sent twice (a double tap)
    first = buyer_client.post(CHECKOUT_URL, form)
    second = buyer_client.post(CHECKOUT_URL, form)

    # then there is one group, one order and one reservation
    assert (first.status_code, second.status_code) == (302, 302)
    group = OrderGroup.objects.get()
    assert first.url == f"/pay/{group.pk}/"
    assert Order.objects.count() == 1
    variant.refresh_from_db()
    assert variant.stock == 3


def test_a_double_submitted_checkout_lands_on_the_same_payment_page_both_times(buyer_client, variant):
    _add_to_cart(buyer_client, variant)
    form = _open_checkout(buyer_client)

    first = buyer_client.post(CHECKOUT_URL, form)
    second = buyer_client.post(CHECKOUT_URL, form)

    group = OrderGroup.objects.get()
    assert first.url == second.url == f"/pay/{group.pk}/"


# --- The pages: garbage in the cart forms -----------------------------------------------------


@pytest.mark.parametrize(
    ("variant_field", "quantity", "message"),
    [
        ("abc", "1", "Choose an option and a whole-number quantity."),
        ("", "1", "Choose an option and a whole-number quantity."),
        ("{pk}", "1e3", "Choose an option and a whole-number quantity."),
        ("{pk}", "0", "Choose a quantity from 1 to 99."),
        ("{pk}", "-5", "Choose a quantity from 1 to 99."),
        ("{pk}", "100", "Choose a quantity from 1 to 99."),
        ("{pk}", "99999999999999999999999", "Choose a quantity from 1 to 99."),
        ("{pk}", "6", "Only 5 of Celadon Teapot ({name}) in stock."),
        ("99999999999999999999999", "1", "This item cannot be bought right now."),
        ("-1", "1", "This item cannot be bought right now."),
    ],
)
def test_bad_cart_input_is_refused_with_a_message(buyer_client, variant, variant_field, quantity, message):
    response = buyer_client.post("/cart/add/", {"variant": variant_field.format(pk=variant.pk), "quantity": quantity})

    assert response.status_code == 302
    assert _messages(response) == [message.format(name=variant.name)]
    assert not CartItem.objects.exists()


# --- The API ---------------------------------------------------------------------------------


def _api_add(api, variant, quantity: int = 2) -> None:
    response = api.post("/api/v1/cart/items/", {"variant_id": variant.pk, "quantity": quantity}, format="json")
    assert response.status_code == 201, response.content


def _api_checkout(api, **overrides):
    body = {**ADDRESS_FORM, "idempotency_key": "k" * 32, **overrides}
    return api.post(API_CHECKOUT_URL, {k: v for k, v in body.items() if v is not None}, format="json")


def test_api_checkout_of_an_empty_cart_is_a_400_with_a_message(buyer_api, variant):
    response = _api_checkout(buyer_api)

    assert response.status_code == 400
    assert response.json() == {"error": {"status": 400, "code": "invalid", "message": "Your cart is empty."}}
    _assert_no_order_and_no_money(variant, stock=5)


def test_api_checkout_after_a_price_change_is_a_409_naming_the_new_price(buyer_api, variant):
    # given 2 teapots in the cart at 49.99, then the shop raises the price
    _api_add(buyer_api, variant)
    variant_update(variant=variant, price_minor=5349)

    # when the buyer checks out
    response = _api_checkout(buyer_api)

    # then it is refused with the new price named, and nothing was ordered
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "price_changed"
    assert f"Celadon Teapot ({variant.name}) is now {money_format(5349)}" in error["message"]
    _assert_no_order_and_no_money(variant, stock=5)
    # and the cart shows the new price, flagged as changed
    (item,) = buyer_api.get("/api/v1/cart/").json()["items"]
    assert (item["price"], item["price_changed"]) == ("53.49", True)


API_ACCEPT_PRICES_URL = "/api/v1/cart/prices/accept/"


def test_api_buyer_accepts_a_changed_price_and_then_checks_out_at_it(buyer_api, variant):
    # given 2 teapots in the cart at 49.99, a price rise to 53.49, and a checkout refused for it
    _api_add(buyer_api, variant)
    variant_update(variant=variant, price_minor=5349)
    refused = _api_checkout(buyer_api)
    assert refused.status_code == 409
    assert refused.json()["error"]["changed"] == [{"variant_id": variant.pk, "price_seen": "49.99", "price": "53.49"}]

    # when the buyer accepts the price the 409 showed
    accepted = buyer_api.post(
        API_ACCEPT_PRICES_URL, {"items": [{"variant_id": variant.pk, "price": "53.49"}]}, format="json"
    )

    # then the cart carries it, no longer flagged, and the same checkout now goes through at it
    assert accepted.status_code == 200
    (item,) = accepted.json()["items"]
    assert (item["variant_id"], item["price"], item["price_changed"]) == (variant.pk, "53.49", False)
    placed = _api_checkout(buyer_api)
    assert placed.status_code == 201, placed.content
    assert placed.json()["total"] == "113.98"  # 2 × 53.49 + 7.00 shipping
    ((line,),) = [order["lines"] for order in placed.json()["orders"]]
    assert (line["unit_price"], line["quantity"]) == ("53.49", 2)
    assert Variant.objects.get(pk=variant.pk).stock == 3


def test_api_accepting_a_price_that_moved_again_leaves_the_checkout_refused(buyer_api, variant):
    # given a refused checkout that showed 53.49, and a second rise to 59.99 before the buyer answers
    _api_add(buyer_api, variant)
    variant_update(variant=variant, price_minor=5349)
    assert _api_checkout(buyer_api).status_code == 409
    variant_update(variant=variant, price_minor=5999)

    # when the buyer accepts 53.49, the price they were shown
    accepted = buyer_api.post(
        API_ACCEPT_PRICES_URL, {"items": [{"variant_id": variant.pk, "price": "53.49"}]}, format="json"
    )

    # then the item keeps the price first seen, still flagged, and checkout names the newest price
    assert accepted.status_code == 200
    (item,) = accepted.json()["items"]
    assert (item["price"], item["price_changed"]) == ("59.99", True)
    assert CartItem.objects.get().price_seen_minor == 4999
    again = _api_checkout(buyer_api)
    assert again.status_code == 409
    assert again.json()["error"]["changed"] == [{"variant_id": variant.pk, "price_seen": "49.99", "price": "59.99"}]
    _assert_no_order_and_no_money(variant, stock=5)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "items"),
        ({"items": []}, "items"),
        ({"items": [{"variant_id": 1, "price": 53.49}]}, "items"),
        ({"items": [{"variant_id": 1, "price": "-1"}]}, "items"),
        ({"items": [{"variant_id": "x", "price": "1.00"}]}, "items"),
    ],
    ids=["missing", "empty", "float", "negative", "bad-id"],
)
def test_api_accepting_prices_with_bad_input_is_a_400_and_changes_nothing(buyer_api, variant, body, field):
    _api_add(buyer_api, variant)
    variant_update(variant=variant, price_minor=5349)

    response = buyer_api.post(API_ACCEPT_PRICES_URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert CartItem.objects.get().price_seen_minor == 4999


def test_api_checkout_of_sold_out_stock_is_a_409_with_a_message(buyer_api, variant):
    _api_add(buyer_api, variant)
    variant_update(variant=variant, stock=0)

    response = _api_checkout(buyer_api)

    assert response.status_code == 409
    assert response.json()["error"]["message"] == f"Celadon Teapot ({variant.name}) just sold out."
    _assert_no_order_and_no_money(variant, stock=0)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("name", None, "This field is required."),
        ("name", "", "This field may not be blank."),
        ("name", "N" * 10_000, "Ensure this field has no more than 80 characters."),
        ("address", "A" * 100_000, "Ensure this field has no more than 300 characters."),
        ("city", "Hang\x00zhou", "Null characters are not allowed."),
        ("phone", "call me maybe", "Enter a phone number the courier can call (digits, 6 to 15 of them)."),
        ("address", "x", "Enter the street address with the building and flat number."),
        ("idempotency_key", "k" * 65, "Ensure this field has no more than 64 characters."),
        ("idempotency_key", "", "This field may not be blank."),
    ],
    ids=lambda v: repr(v)[:20],
)
def test_api_checkout_with_a_bad_address_is_a_400_naming_the_field(buyer_api, variant, field, value, error):
    _api_add(buyer_api, variant)

    response = _api_checkout(buyer_api, **{field: value})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [error]}
    _assert_no_order_and_no_money(variant, stock=5)


def test_api_checkout_repeated_with_the_same_key_returns_the_same_group(buyer_api, variant):
    _api_add(buyer_api, variant)

    first = _api_checkout(buyer_api)
    second = _api_checkout(buyer_api)

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"] == OrderGroup.objects.get().pk
    assert Order.objects.count() == 1
    assert Variant.objects.get(pk=variant.pk).stock == 3


def test_api_checkout_needs_a_signed_in_buyer(api_client, variant):
    response = _api_checkout(api_client)

    # SessionAuthentication comes first, and DRF answers 403 when it cannot send a challenge.
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_authenticated"
    assert not OrderGroup.objects.exists()


def test_the_payment_page_waits_while_another_request_creates_the_payment_intent(buyer, buyer_client, variant):
    # given a group whose PaymentIntent another request is still creating (a double tap's
    # first request, waiting for Stripe): it was born claimed by that request
    group = place(buyer, (variant, 1))
    assert group.payment_intent_id == "creating"

    # when the buyer opens the payment page, and taps Pay anyway
    page = buyer_client.get(f"/pay/{group.pk}/")
    response = buyer_client.post(f"/pay/{group.pk}/", {"card": "pm_card_visa"})

    # then the page says the payment is being prepared and offers no payment form, the tap is
    # refused with a message, and nothing reached Stripe
    assert page.status_code == 200
    assert "Preparing your payment" in page.content.decode()
    assert 'name="card"' not in page.content.decode()
    assert (response.status_code, response.url) == (302, f"/pay/{group.pk}/")
    assert _messages(response) == ["Your payment is still being prepared. Try again in a moment."]
    group.refresh_from_db()
    assert (group.payment_intent_id, group.status) == ("creating", OrderGroup.Status.PENDING_PAYMENT)

    # when that request records the PaymentIntent, the page offers the payment
    payment_intent_ensure(group_id=group.pk, placed=group)
    assert 'name="card"' in buyer_client.get(f"/pay/{group.pk}/").content.decode()
