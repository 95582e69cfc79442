"""Races on real concurrent connections: "once" holds when requests arrive together."""

from datetime import timedelta

import pytest
from django.utils import timezone

from marketplace.errors import ConflictError
from reviews import services
from reviews.models import Review, ReviewVote, ShopCreditHistory
from tests.factories import UserFactory, make_shop
from tests.helpers import REVIEW, planted_line, race

pytestmark = pytest.mark.django_db(transaction=True)


def test_eight_simultaneous_reviews_of_one_line_store_one():
    line = planted_line(shop=make_shop())
    buyer = line.order.buyer
    results = race(8, lambda i: services.review_create(buyer=buyer, line_id=line.pk, **{**REVIEW, "stars": 1 + i % 5}))
    stored = [r for r in results if isinstance(r, Review)]
    refused = [r for r in results if isinstance(r, ConflictError)]
    assert (len(stored), len(refused)) == (1, 7), results
    assert Review.objects.count() == 1
    assert all("already reviewed" in e.message for e in refused)


def test_simultaneous_replies_and_follow_ups_are_written_once():
    shop = make_shop()
    line = planted_line(shop=shop)
    review = services.review_create(buyer=line.order.buyer, line_id=line.pk, **REVIEW)
    replies = race(6, lambda i: services.review_reply(review_id=review.pk, merchant=shop.owner, text=f"Reply {i}"))
    followups = race(6, lambda i: services.review_follow_up(review_id=review.pk, buyer=review.buyer, text=f"F{i}"))
    assert sum(isinstance(r, Review) for r in replies) == 1
    assert sum(isinstance(r, Review) for r in followups) == 1
    review.refresh_from_db()
    assert review.reply_text == next(r.reply_text for r in replies if isinstance(r, Review))
    voters = [UserFactory() for _ in range(6)]
    race(6, lambda i: services.review_vote(review_id=review.pk, user=voters[i], is_helpful=i % 2 == 0))
    review.refresh_from_db()
    assert (
        (review.helpful_yes, review.helpful_total)
        == (3, 6)
        == (
            ReviewVote.objects.filter(is_helpful=True).count(),
            ReviewVote.objects.count(),
        )
    )


def test_two_simultaneous_monthly_evaluations_write_each_shop_once():
    shops = [make_shop() for _ in range(3)]
    month = services.month_start(timezone.now() + timedelta(days=40))
    results = race(2, lambda i: services.shop_credit_evaluate(month=month).written)
    assert sorted(results) == [0, len(shops)], results
    assert ShopCreditHistory.objects.filter(month=month).count() == len(shops)
