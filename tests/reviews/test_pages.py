"""Review pages: the product page's cost, folding seen by both sides, the merchant inbox and
trust card, the policy page, reward reports to the staff console, lists and filters."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviews import services
from reviews.models import ReviewModeration, RewardReport
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import REVIEW, plant_reviews, planted_line

pytestmark = pytest.mark.django_db


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_product_page_costs_the_same_with_0_20_or_2000_reviews(client):
    counts = {}
    for size in (0, 20, 2000):
        product = make_product()
        if size:
            plant_reviews(product, [{"stars": 1 + i % 5, "connection": "owner" if i % 7 == 0 else ""}
                                    for i in range(size)])  # fmt: skip
        counts[size] = _count(client, f"/p/{product.pk}/")
    assert len(set(counts.values())) == 1, counts
    assert counts[20] <= 6, counts


def _review(shop=None):
    line = planted_line(shop=shop or make_shop())
    return services.review_create(buyer=line.order.buyer, line_id=line.pk, **REVIEW)


def test_staff_fold_with_a_reason_that_both_sides_and_everyone_see(client):
    review = _review()
    staff = UserFactory(is_staff=True)
    client.force_login(review.buyer)
    assert client.post(f"/staff/reviews/{review.pk}/fold/", {"reason": "abuse", "note": "x"}).status_code == 404
    client.force_login(staff)
    response = client.post(f"/staff/reviews/{review.pk}/fold/", {"reason": "personal_data", "note": "Phone number"})
    assert response.status_code == 302
    for user in (review.buyer, review.shop.owner, None):
        client.logout() if user is None else client.force_login(user)
        page = client.get(f"/p/{review.product_id}/").content.decode()
        assert 'Folded by Circle Market: <span class="fold-reason">Contains personal data</span>' in page
        assert "Lovely tea." in page  # folded, not gone
    client.force_login(staff)
    bad = client.post(f"/staff/reviews/{review.pk}/fold/", {"reason": "because", "note": "x"})
    assert bad.status_code == 400
    assert client.post(f"/staff/reviews/{review.pk}/unfold/", {"note": "Number removed by buyer"}).status_code == 302
    record = list(ReviewModeration.objects.values_list("action", "reason", "note", "staff_id"))
    assert record == [
        ("fold", "personal_data", "Phone number", staff.pk),
        ("unfold", "", "Number removed by buyer", staff.pk),
    ]
    assert "Folded by" not in client.get(f"/reviews/{review.pk}/").content.decode()


def test_the_merchant_inbox_marks_unanswered_and_low_ratings_and_scopes_to_the_shop(client):
    shop = make_shop()
    low = planted_line(shop=shop)
    services.review_create(buyer=low.order.buyer, line_id=low.pk, **{**REVIEW, "stars": 1, "text": "Broken"})
    other = _review()
    client.force_login(shop.owner)
    page = client.get("/merchant/reviews/").content.decode()
    assert "Broken" in page and "Unanswered" in page and "Low rating" in page
    assert f"review-{other.pk}" not in page
    response = client.post(f"/reviews/{other.pk}/reply/", {"text": "Not my review"})
    assert response.status_code == 404
    trust = client.get("/merchant/trust/").content.decode()
    assert "What would raise it" in trust and "The badge needs at least 5 orders in 3 months" in trust


def test_the_policy_page_states_the_rules_from_the_live_settings(client, settings):
    settings.REVIEWS_WINDOW_DAYS = 20
    page = client.get("/reviews/policy/").content.decode()
    assert "within 20 days of receipt" in page
    assert "16 CFR 465.4" in page and "No review is ever deleted" in page
    assert "Suspected rating manipulation".lower() in page
    assert "at least 95.0% of orders shipped" in page and "a rating of at least 4.8" in page


def test_a_reward_report_opens_a_case_in_the_staff_console(client):
    shop = make_shop()
    buyer, staff = UserFactory(), UserFactory(is_staff=True)
    client.force_login(buyer)
    assert client.post(f"/s/{shop.slug}/report-reward/", {"description": ""}).status_code == 400
    response = client.post(f"/s/{shop.slug}/report-reward/", {"description": "They offered ¥10 back for 5 stars."})
    assert response.status_code == 302
    report = RewardReport.objects.get()
    assert (report.shop_id, report.reporter_id, report.status) == (shop.pk, buyer.pk, "open")
    assert client.get("/staff/review-reports/").status_code == 404
    client.force_login(staff)
    assert "¥10 back for 5 stars" in client.get("/staff/review-reports/").content.decode()
    client.post(f"/staff/review-reports/{report.pk}/close/", {"confirmed": "on", "note": "Screenshots match"})
    report.refresh_from_db()
    assert (report.status, report.handled_by_id) == ("confirmed", staff.pk)


def test_lists_filter_by_photos_and_follow_ups(client, api_client):
    shop = make_shop()
    plain, with_followup = _review(shop), _review(shop)
    services.review_follow_up(review_id=with_followup.pk, buyer=with_followup.buyer, text="Three months on: great.")
    page = client.get(f"/s/{shop.slug}/reviews/?followups=1").content.decode()
    assert f"review-{with_followup.pk}" in page and f"review-{plain.pk}" not in page
    assert "No reviews match." in client.get(f"/s/{shop.slug}/reviews/?photos=1").content.decode()
    data = api_client.get(f"/api/v1/shops/{shop.slug}/reviews/?followups=true").json()
    assert [r["id"] for r in data["results"]] == [with_followup.pk]
    assert data["results"][0]["follow_up"]["text"] == "Three months on: great."


def test_my_reviewable_lines_page_and_api(client, api_client):
    line = planted_line(shop=make_shop())
    client.force_login(line.order.buyer)
    assert f"/reviews/new/{line.pk}/" in client.get("/reviews/mine/").content.decode()
    api_client.force_authenticate(line.order.buyer)
    assert [r["id"] for r in api_client.get("/api/v1/reviews/reviewable-lines/").json()] == [line.pk]
    services.review_create(buyer=line.order.buyer, line_id=line.pk, **REVIEW)
    assert api_client.get("/api/v1/reviews/reviewable-lines/").json() == []
