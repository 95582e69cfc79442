"""Ratings: mean, count and histogram over 12 months of rated reviews; the Bayesian "best
rated" ranking; helpful votes ranked by the Wilson lower bound."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.errors import DomainError
from reviews import selectors, services
from reviews.models import Review
from reviews.services import Forbidden
from shops.models import Product
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import REVIEW, plant_reviews, planted_line

pytestmark = pytest.mark.django_db


def _ranked(ids):
    return list(selectors.products_order_best_rated(Product.objects.filter(pk__in=ids)).values_list("pk", flat=True))


def test_three_five_star_reviews_rank_below_three_hundred_at_4_8():
    # given a platform whose reviews average below 4.8 (a product with 100 three-star reviews)
    few, many, background = make_product(), make_product(), make_product()
    plant_reviews(few, [{"stars": 5}] * 3)
    plant_reviews(many, [{"stars": 5}] * 240 + [{"stars": 4}] * 60)  # mean 4.8
    plant_reviews(background, [{"stars": 3}] * 100)
    # then the plain mean puts the 3 five-star reviews first (the control) ...
    assert selectors.rating_for_shop(shop_id=few.shop_id).mean > selectors.rating_for_shop(shop_id=many.shop_id).mean
    # ... and the Bayesian average puts the 300 reviews at 4.8 first
    assert _ranked([few.pk, many.pk, background.pk]) == [many.pk, few.pk, background.pk]


def test_the_search_and_category_pages_sort_best_rated(client):
    few, many = make_product(title="Oolong few"), make_product(title="Oolong many")
    plant_reviews(few, [{"stars": 5}] * 3)
    plant_reviews(many, [{"stars": 5}] * 240 + [{"stars": 4}] * 60)
    plant_reviews(make_product(title="Other"), [{"stars": 3}] * 100)
    page = client.get("/search/?q=oolong&sort=rating").content.decode()
    assert page.index("Oolong many") < page.index("Oolong few")
    page = client.get("/products/?sort=rating").content.decode()
    assert page.index("Oolong many") < page.index("Oolong few") < page.index("Other")


REVIEW_SPEC = st.fixed_dictionaries(
    {
        "stars": st.integers(1, 5),
        "connection": st.sampled_from(["", "", "", "owner", "card"]),
        "fold_reason": st.sampled_from(["", "", "", "abuse", "manipulation"]),
        "age_days": st.sampled_from([0, 10, 200, 364, 366, 500]),
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(REVIEW_SPEC, max_size=30), other=st.lists(st.integers(1, 5), max_size=10))
def test_mean_histogram_and_bayesian_score_equal_an_independent_computation(specs, other):
    # given random reviews of a product (some connected, folded, or older than 12 months)
    # and random reviews of another product of the same shop
    cache.clear()
    now = timezone.now()
    product = make_product()
    for spec in specs:
        spec["created_at"] = now - timedelta(days=spec["age_days"])
    plant_reviews(product, specs) if specs else None
    sibling = make_product(shop=product.shop)
    plant_reviews(sibling, [{"stars": s} for s in other]) if other else None

    # when the rating is computed independently from the raw rows
    def rated(review):
        return (
            review.connection == ""
            and review.fold_reason != "manipulation"
            and review.created_at >= now - timedelta(days=365)
        )

    rows = list(Review.objects.all())
    mine = [r.stars for r in rows if r.product_id == product.pk and rated(r)]
    platform = [r.stars for r in rows if rated(r)]
    prior = sum(platform) / len(platform) if platform else 0.0
    weight = 20
    # then the selectors agree
    product_rating, shop_rating = selectors.rating_for_product_page(product=product)
    assert product_rating.count == len(mine)
    assert product_rating.total == sum(mine)
    assert product_rating.histogram == {s: mine.count(s) for s in (5, 4, 3, 2, 1)}
    assert product_rating.mean == (round(sum(mine) / len(mine), 2) if mine else None)
    shop_stars = mine + [s for s in other]
    assert (shop_rating.count, shop_rating.total) == (len(shop_stars), sum(shop_stars))
    ranked = selectors.products_order_best_rated(Product.objects.filter(pk=product.pk)).get()
    expected = (weight * prior + sum(mine)) / (weight + len(mine))
    assert ranked.bayes_score == pytest.approx(expected, rel=1e-9)
    assert selectors.bayesian_score(total=sum(mine), count=len(mine), prior=prior, weight=weight) == pytest.approx(
        expected
    )


def test_wilson_lower_bound_ranks_many_votes_above_one():
    assert services.wilson_lower_bound(0, 0) == 0.0
    assert services.wilson_lower_bound(1, 1) < services.wilson_lower_bound(45, 50)
    assert services.wilson_lower_bound(45, 50) == pytest.approx(0.7864, abs=1e-4)


def test_helpful_votes_one_per_user_none_on_your_own_and_most_helpful_sorts_by_wilson():
    shop = make_shop()
    one = services.review_create(buyer=(line := planted_line(shop=shop)).order.buyer, line_id=line.pk, **REVIEW)
    many = services.review_create(buyer=(line := planted_line(shop=shop)).order.buyer, line_id=line.pk, **REVIEW)
    with pytest.raises(Forbidden, match="your own review"):
        services.review_vote(review_id=one.pk, user=one.buyer, is_helpful=True)
    with pytest.raises(Forbidden, match="its own products"):
        services.review_vote(review_id=one.pk, user=shop.owner, is_helpful=True)
    with pytest.raises(DomainError, match="true or false"):
        services.review_vote(review_id=one.pk, user=UserFactory(), is_helpful="yes")
    voter = UserFactory()
    services.review_vote(review_id=one.pk, user=voter, is_helpful=True)
    services.review_vote(review_id=one.pk, user=voter, is_helpful=True)
    for i in range(6):
        services.review_vote(review_id=many.pk, user=UserFactory(), is_helpful=i < 5)
    one.refresh_from_db()
    many.refresh_from_db()
    assert (one.helpful_yes, one.helpful_total) == (1, 1)
    assert (many.helpful_yes, many.helpful_total) == (5, 6)
    ordered = list(selectors.review_list(shop_id=shop.pk, sort="helpful").values_list("pk", flat=True))
    assert ordered == [many.pk, one.pk]
    assert list(selectors.review_list(shop_id=shop.pk).values_list("pk", flat=True)) == [many.pk, one.pk]
