"""Races with real concurrent database connections (one per thread)."""

import time
import uuid

import pytest
from django.test import Client

from marketplace.errors import DomainError
from orders import services
from orders.models import CartItem, Order, OrderGroup, OrderLine
from shops.models import Variant
from tests.factories import PASSWORD, UserFactory, make_product
from tests.helpers import ADDRESS, race

pytestmark = pytest.mark.django_db(transaction=True)

BUYERS = 16


def _checkout_one(buyer, variant):
    return services.checkout_place(
        buyer=buyer,
        lines=[services.CheckoutLine(variant.pk, 1, variant.price_minor)],
        address=ADDRESS,
        idempotency_key=uuid.uuid4().hex,
    )


def _naive_checkout_one(buyer, variant):
    """The classic bug: read the stock, decide, write it back (no lock, no condition)."""
    current = Variant.objects.get(pk=variant.pk).stock
    if current < 1:
        raise DomainError("sold out")
    time.sleep(0.01)  # the window every real request has between its read and its write
    Variant.objects.filter(pk=variant.pk).update(stock=current - 1)
    return "sold"


@pytest.mark.parametrize("attempt", range(3))
def test_sixteen_buyers_race_for_the_last_unit_and_exactly_one_gets_it(attempt):
    # given one unit left and sixteen buyers
    variant = make_product(stock=1).variants.get()
    buyers = [UserFactory() for _ in range(BUYERS)]

    # when they all check out at once
    results = race(BUYERS, lambda i: _checkout_one(buyers[i], variant))

    # then exactly one order exists, the others got a clear refusal, and stock is 0
    winners = [r for r in results if isinstance(r, OrderGroup)]
    losers = [r for r in results if isinstance(r, DomainError)]
    assert len(winners) == 1, results
    assert len(losers) == BUYERS - 1
    assert all("just sold out" in r.message for r in losers)
    variant.refresh_from_db()
    assert variant.stock == 0
    assert OrderLine.objects.count() == 1


def test_the_naive_version_oversells_so_the_race_test_can_fail():
    oversold = 0
    for _ in range(3):
        variant = make_product(stock=1).variants.get()
        results = race(BUYERS, lambda i, v=variant: _naive_checkout_one(None, v))
        oversold += sum(1 for r in results if r == "sold") - 1
    assert oversold > 0


def test_twenty_identical_checkout_posts_make_one_group_and_one_payment_intent(stripe_fake):
    # given a buyer with a cart and one checkout form (one idempotency key)
    buyer = UserFactory()
    variant = make_product(stock=10).variants.get()
    cart = services.cart_for(user=buyer)
    services.cart_add(cart=cart, variant_id=variant.pk, quantity=2)
    key = uuid.uuid4().hex
    form = {
        "name": "Li Lei",
        "phone": "13800000000",
        "address": "1 Garden Road",
        "city": "Hangzhou",
        "idempotency_key": key,
    }

    def submit(_):
        client = Client()
        client.post("/accounts/login/", {"login": buyer.email, "password": PASSWORD})
        return client.post("/checkout/", form).status_code

    # when the form is submitted 20 times at once (double taps, retries)
    statuses = race(20, submit)

    # then every submit lands on the same group, with one PaymentIntent and 2 units reserved
    assert statuses == [302] * 20, statuses
    assert OrderGroup.objects.count() == 1
    assert Order.objects.count() == 1
    assert len(stripe_fake.to("POST", "/v1/payment_intents")) == 1
    variant.refresh_from_db()
    assert variant.stock == 8
    assert not CartItem.objects.exists()
