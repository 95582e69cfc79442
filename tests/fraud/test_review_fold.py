"""A review folded "under review" leaves the ratings until staff decide."""

import pytest

from reviews import services as review_services
from reviews.selectors import rating_for_shop
from tests.factories import UserFactory, make_product
from tests.helpers import plant_reviews

pytestmark = pytest.mark.django_db


def test_a_review_under_review_is_left_out_of_the_rating_until_cleared():
    # given: a five-star and a one-star review of one shop
    product = make_product()
    _, brushed = plant_reviews(product, [{"stars": 5}, {"stars": 1}])
    assert (rating_for_shop(shop_id=product.shop_id).count, rating_for_shop(shop_id=product.shop_id).total) == (2, 6)
    # when: a fraud rule or case folds the one-star review
    assert review_services.review_fold_under_review(review_id=brushed.pk) is True
    # then: out of the rating, with its reason; folding again changes nothing
    brushed.refresh_from_db()
    assert (brushed.is_folded, brushed.get_fold_reason_display()) == (True, "Under review")
    assert (rating_for_shop(shop_id=product.shop_id).count, rating_for_shop(shop_id=product.shop_id).total) == (1, 5)
    assert review_services.review_fold_under_review(review_id=brushed.pk) is False
    # when: staff clear it
    review_services.review_unfold(review_id=brushed.pk, staff=UserFactory(is_staff=True), note="Fraud case cleared")
    # then: back in the rating
    assert rating_for_shop(shop_id=product.shop_id).count == 2
