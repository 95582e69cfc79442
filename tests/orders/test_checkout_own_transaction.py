"""Checkout outside any transaction of the caller's (the API, the demo, the bench): its one
statement is its own transaction, so a refused line must leave nothing written at all."""

import pytest
from django.db import connection

from marketplace.errors import ConflictError, DomainError
from orders.models import Order, OrderGroup, OrderLine
from orders.services import PriceChanged
from shops.models import Product, Variant
from tests.factories import UserFactory, make_product
from tests.helpers import place

pytestmark = pytest.mark.django_db(transaction=True)


def _stock(product: Product) -> tuple[int, int]:
    product.refresh_from_db()
    return product.variants.get().stock, product.stock_total


@pytest.fixture
def two_shops():
    return make_product(title="Green tea", stock=5), make_product(title="Teapot", stock=1)


def test_a_sold_out_line_leaves_every_other_line_unreserved(two_shops):
    # given a cart of green tea from one shop and a teapot from another, the teapot then sold out
    tea, teapot = two_shops
    buyer = UserFactory()
    Variant.objects.filter(product=teapot).update(stock=0)
    assert not connection.in_atomic_block

    # when the buyer checks out
    with pytest.raises(ConflictError) as refused:
        place(buyer, (tea.variants.get(), 2), (teapot.variants.get(), 1))

    # then the message names the teapot, and the tea's stock was not touched
    assert str(refused.value) == f"Teapot ({teapot.variants.get().name}) just sold out."
    assert _stock(tea) == (5, 5)
    assert (OrderGroup.objects.count(), Order.objects.count(), OrderLine.objects.count()) == (0, 0, 0)


def test_a_changed_price_leaves_every_line_unreserved(two_shops):
    # given the same cart, seen before the teapot's price went up
    tea, teapot = two_shops
    buyer = UserFactory()
    tea_line, teapot_line = (tea.variants.get(), 1), (teapot.variants.get(), 1)
    Variant.objects.filter(product=teapot).update(price_minor=1500)

    # when the buyer checks out at the prices they saw
    with pytest.raises(PriceChanged):
        place(buyer, tea_line, teapot_line)

    # then nothing is reserved
    assert (_stock(tea), _stock(teapot)) == ((5, 5), (1, 1))
    assert OrderGroup.objects.count() == 0


def test_an_item_taken_off_sale_is_refused_and_the_rest_is_not_reserved(two_shops):
    tea, teapot = two_shops
    buyer = UserFactory()
    Product.objects.filter(pk=teapot.pk).update(status=Product.Status.DRAFT)

    with pytest.raises(DomainError, match="Teapot can no longer be bought"):
        place(buyer, (tea.variants.get(), 1), (teapot.variants.get(), 1))

    assert (_stock(tea), _stock(teapot)) == ((5, 5), (1, 1))


def test_a_refused_checkout_then_a_good_one_places_exactly_one_group(two_shops):
    # given a refused attempt
    tea, teapot = two_shops
    buyer = UserFactory()
    with pytest.raises(ConflictError):
        place(buyer, (tea.variants.get(), 1), (teapot.variants.get(), 2), key="k1")

    # when the buyer lowers the quantity and checks out again with the same key, twice
    first = place(buyer, (tea.variants.get(), 1), (teapot.variants.get(), 1), key="k1")
    again = place(buyer, (tea.variants.get(), 1), (teapot.variants.get(), 1), key="k1")

    # then one group of two orders holds exactly that stock
    assert first.pk == again.pk
    assert Order.objects.filter(group=first).count() == 2
    assert (_stock(tea), _stock(teapot)) == ((4, 4), (0, 0))
