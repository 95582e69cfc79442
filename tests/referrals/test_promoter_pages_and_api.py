"""Promoter centre, top promoters and the referrals API: figures, scoping, bad input."""

import pytest
from django.urls import reverse

from payments.models import Payout
from payments.services import payout_account_connect, payouts_run, payouts_submit
from referrals import services
from referrals.models import Click, Share
from tests.factories import UserFactory, make_product
from tests.helpers import pay, place, settle_due, ship_confirm_and_age

pytestmark = pytest.mark.django_db

PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"


@pytest.fixture
def sale(client):
    """A promoter whose link got two clicks and one settled, paid-out sale of 150.00 at 10%."""
    product = make_product(price_minor=150_000, commission_bps=1000, stock=5)
    promoter = UserFactory(display_name="Mei")
    share = services.share_create(promoter=promoter, product=product)
    client.get(f"/r/{share.code}", HTTP_USER_AGENT=PHONE_UA)
    client.cookies.clear()
    client.get(f"/r/{share.code}", HTTP_USER_AGENT=PHONE_UA)
    group = pay(client, place(UserFactory(), (product.variants.get(), 1), shares_by_product={product.pk: share}))
    ship_confirm_and_age(group.orders.get())
    settle_due()
    payout_account_connect(user=promoter)
    payouts_submit(payout_ids=payouts_run(minimum_minor=100))
    return promoter, share, product


def test_the_promoter_centre_shows_links_earnings_chart_and_payouts(client, sale):
    promoter, share, product = sale
    client.force_login(promoter)
    response = client.get("/promoter/")
    assert response.status_code == 200
    row = response.context["shares"][0]
    assert (row.share, row.clicks, row.orders, row.conversion_pct, row.commission_minor) == (share, 2, 1, 50.0, 15_000)
    assert response.context["balances"]["paid_out"] == 15_000
    assert sum(week.amount_minor for week in response.context["weeks"]) == 15_000
    assert response.context["weeks"][-1].amount_minor == 15_000  # this week's bar
    assert max(week.height_pct for week in response.context["weeks"]) == 100
    body = response.content.decode()
    assert product.title in body and "Paid" in body and "<svg" in body


def test_the_promoter_centre_shows_only_ones_own_links(client, sale):
    _, share, _ = sale
    client.force_login(UserFactory())
    response = client.get("/promoter/")
    assert response.context["shares"] == []
    assert share.code not in response.content.decode()
    # another promoter's share page is a 404, not theirs to see
    assert client.get(f"/share/{share.code}/").status_code == 404


def test_the_merchant_sees_top_promoters_by_sales(client, sale):
    promoter, _, product = sale
    client.force_login(product.shop.owner)
    response = client.get("/merchant/promoters/")
    assert response.status_code == 200
    top = response.context["promoters"][0]
    assert (top.name, top.orders, top.sales_minor, top.commission_minor) == ("Mei", 1, 150_000, 15_000)
    # a user without a shop is sent to open one
    client.force_login(UserFactory())
    assert client.get("/merchant/promoters/")["Location"] == reverse("shop_open")


def test_setting_up_payouts_from_the_promoter_centre(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post("/payouts/connect/", follow=True)
    user.refresh_from_db()
    assert user.stripe_account_id.startswith("acct_")
    assert "payout account is set up" in response.content.decode()


def test_the_api_creates_and_lists_own_shares(api_client):
    product = make_product()
    user = UserFactory()
    api_client.force_authenticate(user)
    created = api_client.post("/api/v1/shares/", {"product_id": product.pk}, format="json")
    assert created.status_code == 201
    assert created.json()["url"].endswith(f"/r/{created.json()['code']}")
    assert "commission" in created.json()["disclosure"]
    services.share_create(promoter=UserFactory(), product=product)  # someone else's
    listed = api_client.get("/api/v1/shares/").json()
    assert [s["code"] for s in listed["results"]] == [created.json()["code"]]


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({}, 400, "either product_id or shop"),
        ({"product_id": 1, "shop": "x"}, 400, "either product_id or shop"),
        ({"product_id": "abc"}, 400, "valid integer"),
        ({"product_id": 999_999}, 404, ""),
        ({"shop": "no-such-shop"}, 404, ""),
    ],
)
def test_bad_share_requests_get_clear_errors_and_record_nothing(api_client, payload, status, message):
    api_client.force_authenticate(UserFactory())
    response = api_client.post("/api/v1/shares/", payload, format="json")
    assert response.status_code == status
    assert message in str(response.json()).lower() or not message
    assert not Share.objects.exists()


def test_the_api_share_rate_limit_is_a_429_with_a_message(api_client, settings):
    user = UserFactory()
    api_client.force_authenticate(user)
    products = [make_product() for _ in range(services.SHARES_PER_HOUR + 1)]
    for product in products[:-1]:
        assert api_client.post("/api/v1/shares/", {"product_id": product.pk}, format="json").status_code == 201
    response = api_client.post("/api/v1/shares/", {"product_id": products[-1].pk}, format="json")
    assert response.status_code == 429
    assert "an hour" in response.json()["error"]["message"]
    assert Share.objects.filter(promoter=user).count() == services.SHARES_PER_HOUR


def test_the_api_landing_records_a_click_and_says_who_earns(api_client):
    share = services.share_create(promoter=UserFactory(display_name="Lin"), product=make_product())
    response = api_client.post(f"/api/v1/shares/{share.code}/landing/", HTTP_USER_AGENT=PHONE_UA)
    assert response.status_code == 200
    assert response.json()["promoter"] == "Lin" and "commission" in response.json()["disclosure"]
    assert Click.objects.filter(share=share).count() == 1
    assert api_client.post("/api/v1/shares/nope!!/landing/").status_code == 404


def test_the_api_earnings_and_payouts_are_the_callers_own(api_client, sale):
    promoter, share, _ = sale
    api_client.force_authenticate(promoter)
    earnings = api_client.get("/api/v1/promoter/earnings/").json()
    assert earnings["paid_out"] == "150.00"
    assert earnings["links"][0]["code"] == share.code
    payouts = api_client.get("/api/v1/promoter/payouts/").json()["results"]
    assert [p["status"] for p in payouts] == [Payout.Status.PAID]

    api_client.force_authenticate(UserFactory())
    assert api_client.get("/api/v1/promoter/payouts/").json()["results"] == []
    assert api_client.get("/api/v1/promoter/earnings/").json()["links"] == []
    api_client.force_authenticate(None)
    assert api_client.get("/api/v1/promoter/earnings/").status_code in (401, 403)
