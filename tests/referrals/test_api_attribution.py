"""One checkout for pages and API: a purchase through the API after a share landing is
attributed as the page flow's is, and pays the promoter exactly what it pays."""

import uuid

import pytest
from rest_framework.test import APIClient

from orders.models import OrderGroup, OrderLine
from payments import ledger
from payments.ledger import Kind
from payments.services import reconcile
from referrals import services
from referrals.models import CommissionRefusal
from tests.factories import UserFactory, make_product
from tests.helpers import pay, settle_due, ship_confirm_and_age

pytestmark = pytest.mark.django_db

PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
ADDRESS = {"name": "Han Mei", "phone": "13900000000", "address": "9 Lake Street, Flat 1", "city": "Suzhou"}


def _page_purchase(client, share, product, buyer):
    client.get(f"/r/{share.code}", HTTP_USER_AGENT=PHONE_UA)
    client.force_login(buyer)
    client.post("/cart/add/", {"variant": product.variants.get().pk, "quantity": 2})
    key = client.get("/checkout/").context["form"].initial["idempotency_key"]
    response = client.post("/checkout/", {**ADDRESS, "idempotency_key": key})
    assert response.status_code == 302, response.content
    return client.get(response["Location"]).context["group"]


def _api_purchase(share, product, buyer, *, visitor_id):
    api = APIClient()
    api.force_authenticate(buyer)
    api.post("/api/v1/cart/items/", {"variant_id": product.variants.get().pk, "quantity": 2}, format="json")
    body = {**ADDRESS, "idempotency_key": uuid.uuid4().hex}
    if visitor_id is not None:
        body["visitor_id"] = visitor_id
    response = api.post("/api/v1/checkout/", body, format="json")
    assert response.status_code == 201, response.content
    return OrderGroup.objects.get(pk=response.json()["id"])


def _landing(share) -> str:
    # An app without cookies: it keeps the visitor id the landing returns.
    response = APIClient().post(f"/api/v1/shares/{share.code}/landing/", HTTP_USER_AGENT=PHONE_UA)
    assert response.status_code == 200, response.content
    return response.json()["visitor_id"]


def _settled_commission(client, group, promoter) -> tuple:
    line = OrderLine.objects.get(order__group=group)
    before = ledger.balance_of(kind=Kind.PROMOTER_AVAILABLE, user=promoter)
    pay(client, group)
    ship_confirm_and_age(line.order)
    assert settle_due() == 1
    paid = ledger.balance_of(kind=Kind.PROMOTER_AVAILABLE, user=promoter) - before
    return (line.promoter_id, line.share_id, line.commission_bps, line.commission_base_minor), paid


def test_an_api_purchase_after_a_share_landing_pays_the_promoter_what_the_page_flow_pays(client):
    # given one promoter's share of a product at 12.5%
    product = make_product(price_minor=7_990, commission_bps=1250, stock=10)
    promoter = UserFactory()
    share = services.share_create(promoter=promoter, product=product)

    # when one friend buys through the pages and another through the API, after the landing
    page_group = _page_purchase(client, share, product, UserFactory())
    page_line, page_paid = _settled_commission(client, page_group, promoter)
    api_group = _api_purchase(share, product, UserFactory(), visitor_id=_landing(share))
    api_line, api_paid = _settled_commission(client, api_group, promoter)

    # then both lines froze the same promoter, share, rate and base, and paid the same
    assert page_line == api_line == (promoter.pk, share.pk, 1250, 2 * 7_990)
    assert page_paid == api_paid == 2 * 7_990 * 1250 // 10_000
    assert reconcile().ok


def test_an_api_purchase_without_the_visitor_id_pays_nobody(client):
    # given a landing whose visitor id the app does not send
    product = make_product(price_minor=5_000, commission_bps=1000, stock=5)
    promoter = UserFactory()
    share = services.share_create(promoter=promoter, product=product)
    _landing(share)

    # when the buyer checks out through the API
    group = _api_purchase(share, product, UserFactory(), visitor_id=None)

    # then no commission is frozen on the line
    line = OrderLine.objects.get(order__group=group)
    assert (line.promoter_id, line.share_id, line.commission_bps) == (None, None, 0)


def test_an_api_self_purchase_is_refused_and_recorded_as_the_page_flow_records_it(client):
    # given a promoter who opens their own share in the app
    product = make_product(price_minor=5_000, commission_bps=1000, stock=5)
    promoter = UserFactory()
    share = services.share_create(promoter=promoter, product=product)

    # when they buy through the API with the landing's visitor id
    group = _api_purchase(share, product, promoter, visitor_id=_landing(share))

    # then the line earns nothing and the refusal is kept with its reason
    line = OrderLine.objects.get(order__group=group)
    assert (line.promoter_id, line.commission_bps) == (None, 0)
    refusal = CommissionRefusal.objects.get(order_group=group)
    assert (refusal.share_id, refusal.reason) == (share.pk, CommissionRefusal.Reason.SELF_PURCHASE)


def test_a_malformed_visitor_id_is_a_400_and_places_nothing(client):
    product = make_product(price_minor=5_000, stock=5)
    api = APIClient()
    api.force_authenticate(UserFactory())
    api.post("/api/v1/cart/items/", {"variant_id": product.variants.get().pk, "quantity": 1}, format="json")

    response = api.post(
        "/api/v1/checkout/", {**ADDRESS, "idempotency_key": uuid.uuid4().hex, "visitor_id": "x' OR 1=1"}, format="json"
    )

    assert response.status_code == 400
    assert "visitor_id" in response.json()["error"]["fields"]
    assert not OrderLine.objects.exists()
