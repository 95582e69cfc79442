"""Labels: bought through a sharer's link; connected to the shop (owner, alias, card,
address, visitor id), shown but left out of every rating."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviews import selectors, services
from reviews.models import Review
from shops.models import Product
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import REVIEW, planted_line, received_line

pytestmark = pytest.mark.django_db

VISITOR = "a" * 32


def _review(line, buyer=None, **extra):
    return services.review_create(buyer=buyer or line.order.buyer, line_id=line.pk, **{**REVIEW, **extra})


def test_a_review_of_a_line_bought_through_a_share_link_is_labelled(client):
    line = received_line(client, promoter=UserFactory())
    review = _review(line)
    assert review.is_via_share and review.connection == ""
    page = client.get(f"/p/{line.product_id}/").content.decode()
    assert "Bought through a sharer&#x27;s link" in page or "Bought through a sharer's link" in page
    api = client.get(f"/api/v1/products/{line.product_id}/reviews/").json()
    assert api["results"][0]["labels"] == ["verified_purchase", "bought_through_share"]


def _connected_cases(shop):
    """(buyer, line kwargs) for each signal tying a reviewer to the shop's owner."""
    owner = shop.owner
    other_shop = make_shop()
    # The owner's own purchases elsewhere leave a card fingerprint and an address.
    planted_line(shop=other_shop, buyer=owner, card="fp_owner", address="8 Hill Road, Flat 3")
    owner.email = "boss.man@gmail.com"
    owner.save()
    return {
        "owner": (owner, {}),
        "alias": (UserFactory(email="BossMan+reviews@gmail.com"), {}),
        "card": (UserFactory(), {"card": "fp_owner"}),
        "address": (UserFactory(), {"address": "8 hill road flat 3"}),
    }


@pytest.mark.parametrize("signal", ["owner", "alias", "card", "address"])
def test_a_reviewer_tied_to_the_owner_is_labelled_connected_and_left_out_of_every_rating(signal):
    # given a shop with one ordinary 3-star review
    shop = make_shop()
    product = make_product(shop=shop)
    _review(planted_line(shop=shop, product=product), stars=3)
    buyer, line_kwargs = _connected_cases(shop)[signal]
    # when someone tied to the owner by this signal reviews 5 stars
    review = _review(planted_line(shop=shop, product=product, buyer=buyer, **line_kwargs), stars=5)
    # then it is labelled, and no rating counts it
    assert review.connection == signal
    product_rating, shop_rating = selectors.rating_for_product_page(product=product)
    assert (product_rating.count, product_rating.mean, product_rating.connected) == (1, 3.0, 1)
    assert (shop_rating.count, shop_rating.mean) == (1, 3.0)
    assert selectors.rating_for_shop(shop_id=shop.pk).histogram == {5: 0, 4: 0, 3: 1, 2: 0, 1: 0}
    figures = selectors.credit_figures(shop=shop, as_of=timezone.now() + timedelta(seconds=1))
    assert (figures["rating_count"], figures["rating_x100"]) == (1, 300)
    ranked = selectors.products_order_best_rated(Product.objects.filter(pk=product.pk)).get()
    assert (ranked.rating_count, ranked.rating_total) == (1, 3)


def test_an_unrelated_buyer_is_not_connected():
    shop = make_shop()
    _connected_cases(shop)
    review = _review(planted_line(shop=shop, card="fp_other", address="9 Lake Road"))
    assert review.connection == ""


def test_a_reviewer_on_the_owners_device_is_connected(client):
    # given the owner opened the reviews inbox with a visitor cookie
    shop = make_shop()
    client.cookies["cm_vid"] = VISITOR
    client.force_login(shop.owner)
    assert client.get("/merchant/reviews/").status_code == 200
    # when a buyer on the same device reviews through the page
    line = planted_line(shop=shop)
    client.force_login(line.order.buyer)
    response = client.post(f"/reviews/new/{line.pk}/", REVIEW)
    # then the review is connected, and the page says so and counts it out
    assert response.status_code == 302
    review = Review.objects.get()
    assert review.connection == Review.Connection.VISITOR
    page = client.get(f"/p/{line.product_id}/").content.decode()
    assert "Connected to the shop" in page
    assert "1 review not counted: 1 from people connected to the shop" in page
    assert "No ratings in the last 12 months yet." in page
