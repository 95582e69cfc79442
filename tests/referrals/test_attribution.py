from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import OrderLine
from payments import ledger
from payments.ledger import Kind
from payments.services import reconcile
from referrals import services
from referrals.models import Attribution, Click, CommissionRefusal, Share
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import pay, settle_due, ship_confirm_and_age

pytestmark = pytest.mark.django_db

PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"


def _click(client, share, ua=PHONE_UA):
    return client.get(f"/r/{share.code}", HTTP_USER_AGENT=ua)


def _add_and_checkout(client, product, address="9 Lake Street, Flat 1"):
    client.post("/cart/add/", {"variant": product.variants.get().pk, "quantity": 1})
    response = client.get("/checkout/")
    key = response.context["form"].initial["idempotency_key"]
    response = client.post(
        "/checkout/",
        {"name": "Han Mei", "phone": "13900000000", "address": address, "city": "Suzhou", "idempotency_key": key},
    )
    assert response.status_code == 302, response.content
    return client.get(response["Location"]).context["group"]


def test_a_click_attributes_the_purchase_and_settlement_pays_the_sharer(client):
    # given a promoter's share of a product with a 10% commission
    product = make_product(price_minor=10_000, commission_bps=1000, stock=5)
    promoter = UserFactory()
    share = services.share_create(promoter=promoter, product=product)

    # when a friend opens the link, then buys
    response = _click(client, share)
    assert response.status_code == 302 and response["Location"] == product.get_absolute_url()
    buyer = UserFactory()
    client.force_login(buyer)
    group = pay(client, _add_and_checkout(client, product))

    # then the line froze the promoter, rate and base
    line = OrderLine.objects.get(order__group=group)
    assert (line.promoter_id, line.commission_bps, line.commission_base_minor) == (promoter.pk, 1000, 10_000)
    # and after settlement the commission is available to the promoter, exactly
    order = ship_confirm_and_age(line.order)
    assert settle_due() == 1
    assert ledger.balance_of(kind=Kind.PROMOTER_AVAILABLE, user=promoter) == 1000
    fee = order.total_minor * 500 // 10_000
    assert ledger.balance_of(kind=Kind.MERCHANT_AVAILABLE, shop=order.shop) == order.total_minor - fee - 1000
    assert reconcile().ok


def test_the_last_click_wins(client):
    product = make_product()
    first = services.share_create(promoter=UserFactory(), product=product)
    second = services.share_create(promoter=UserFactory(), product=product)
    _click(client, first)
    _click(client, second)
    visitor = client.cookies["cm_vid"].value
    assert Attribution.objects.get(visitor_id=visitor).share == second


def test_an_expired_attribution_pays_nobody(client):
    product = make_product(stock=5)
    share = services.share_create(promoter=UserFactory(), product=product)
    _click(client, share)
    Attribution.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    client.force_login(UserFactory())
    group = _add_and_checkout(client, product)
    assert OrderLine.objects.get(order__group=group).promoter_id is None


def test_bots_and_repeat_clicks_count_once(client):
    share = services.share_create(promoter=UserFactory(), product=make_product())
    _click(client, share, ua="Mozilla/5.0 (compatible; Googlebot/2.1)")
    assert Click.objects.count() == 0 and Attribution.objects.count() == 0
    _click(client, share)
    _click(client, share)
    assert Click.objects.count() == 1


@pytest.mark.parametrize("code", ["nope12345X", "../../etc", "x" * 40, "%00"])
def test_an_unknown_or_malformed_code_is_a_clear_404(client, code):
    response = client.get(f"/r/{code}")
    assert response.status_code == 404
    assert "There is nothing here" in response.content.decode()
    assert Click.objects.count() == 0


@pytest.mark.parametrize(
    ("buyer_email", "reason"),
    [
        ("Pat.Smith+deals@googlemail.com", CommissionRefusal.Reason.SAME_EMAIL),
        ("PATSMITH@gmail.com", CommissionRefusal.Reason.SAME_EMAIL),
    ],
)
def test_email_aliases_of_the_sharer_earn_nothing(client, buyer_email, reason):
    product = make_product(stock=5)
    share = services.share_create(promoter=UserFactory(email="pat.smith@gmail.com"), product=product)
    _click(client, share)
    client.force_login(UserFactory(email=buyer_email))
    group = _add_and_checkout(client, product)
    assert OrderLine.objects.get(order__group=group).promoter_id is None
    assert CommissionRefusal.objects.get().reason == reason


def test_the_sharer_buying_through_their_own_link_earns_nothing(client):
    product = make_product(stock=5)
    promoter = UserFactory()
    share = services.share_create(promoter=promoter, product=product)
    client.force_login(promoter)
    _click(client, share)
    group = _add_and_checkout(client, product)
    assert OrderLine.objects.get(order__group=group).promoter_id is None
    assert CommissionRefusal.objects.get().reason == CommissionRefusal.Reason.SELF_PURCHASE


def test_sharing_ones_own_shop_earns_nothing(client):
    owner = UserFactory()
    product = make_product(shop=make_shop(owner=owner), stock=5)
    share = services.share_create(promoter=owner, shop=product.shop)
    _click(client, share)
    client.force_login(UserFactory())
    group = _add_and_checkout(client, product)
    assert OrderLine.objects.get(order__group=group).promoter_id is None
    assert CommissionRefusal.objects.get().reason == CommissionRefusal.Reason.OWN_SHOP


def test_shipping_to_the_sharers_address_earns_nothing(client):
    product = make_product(stock=5)
    promoter = UserFactory()
    # the promoter once shipped an order to this address
    client.force_login(promoter)
    _add_and_checkout(client, make_product(stock=5), address="12 Canal Road")
    share = services.share_create(promoter=promoter, product=product)
    client.logout()
    _click(client, share)
    client.force_login(UserFactory())
    group = _add_and_checkout(client, product, address="12, canal road")
    assert OrderLine.objects.get(order__group=group).promoter_id is None
    assert CommissionRefusal.objects.get().reason == CommissionRefusal.Reason.SAME_ADDRESS


def test_share_creation_is_rate_limited(client):
    promoter = UserFactory()
    client.force_login(promoter)
    products = [make_product() for _ in range(services.SHARES_PER_HOUR + 1)]
    for product in products[:-1]:
        assert client.post(f"/share/p/{product.pk}/").status_code == 302
    response = client.post(f"/share/p/{products[-1].pk}/", follow=True)
    assert "You can create 30 new share links an hour" in response.content.decode()
    assert Share.objects.count() == services.SHARES_PER_HOUR


def test_no_model_links_a_promoter_to_whoever_invited_them():
    """One level by construction: no field anywhere points from a user to another user
    as inviter, upline, parent or team."""
    from django.apps import apps

    from accounts.models import User

    suspicious = ("invite", "upline", "parent", "referrer", "sponsor", "team", "recruit")
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if getattr(field, "related_model", None) is User and model is User:
                pytest.fail(f"User links to User through {field.name}")
            assert not any(word in field.name.lower() for word in suspicious) or model._meta.app_label in (
                "shops",
                "auth",
                "contenttypes",
            ), f"{model.__name__}.{field.name}"


def test_share_pages_disclose_the_commission(client):
    promoter = UserFactory()
    client.force_login(promoter)
    product = make_product()
    response = client.post(f"/share/p/{product.pk}/", follow=True)
    body = response.content.decode()
    assert "I earn a commission if you buy through this link." in body
    share = Share.objects.get()
    poster = client.get(f"/r/{share.code}/poster.jpg")
    assert poster.status_code == 200 and poster["Content-Type"] == "image/jpeg"
    assert client.get(f"/r/{share.code}/qr.svg").content.startswith(b"<svg")
    plan = client.get("/commission-plan").content.decode()
    assert "between 1% and 30%" in plan and "One level only" in plan
