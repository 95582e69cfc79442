import pytest
from django.core.management import call_command

from reviews.models import Review, ReviewModeration, ReviewPhoto, ShopCreditHistory

pytestmark = pytest.mark.django_db


def test_the_demo_shows_every_review_state_once():
    call_command("seed_demo", "-v", "0")
    call_command("seed_demo", "-v", "0")
    reviews = {r.buyer.email: r for r in Review.objects.select_related("buyer")}
    assert len(reviews) == 4
    amy = reviews["amy@demo.circle.market"]
    assert amy.photo_count == 2 == ReviewPhoto.objects.filter(review=amy).count()
    assert amy.reply_at and amy.followup_at and amy.followup_reply_at
    assert reviews["ben@demo.circle.market"].is_name_masked
    folded = reviews["cai@demo.circle.market"]
    assert (folded.is_folded, folded.fold_reason) == (True, "personal_data")
    assert ReviewModeration.objects.get().review == folded
    assert reviews["tea+friend@demo.circle.market"].connection == "alias"
    assert not ShopCreditHistory.objects.exists()  # shops opened this month wait for next month's run
