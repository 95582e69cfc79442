"""Sanctions: each kind has its effect while in force (listing freeze and suspension take the
products out of browse and the cart; a payout hold and a suspension stop payouts), lifting or
expiry undoes it, the history keeps every one, and a shop that keeps losing disputes is
suggested for one."""

from datetime import timedelta

import pytest
from django.utils import timezone

from disputes import selectors, services, tasks
from disputes.models import Dispute, Sanction
from marketplace.errors import ConflictError, DomainError
from orders import services as order_services
from orders.models import CartItem
from payments.models import Payout
from payments.services import payout_account_connect, payouts_run
from shops import services as shop_services
from shops.models import Shop
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import clock_freeze, open_request, settle_received, shipped_sale

pytestmark = pytest.mark.django_db

REASON = "Counterfeit goods reported by three buyers."


@pytest.fixture
def clock(monkeypatch):
    return clock_freeze(monkeypatch)


@pytest.fixture
def admin():
    return UserFactory(is_staff=True)


def _titles(response) -> list[str]:
    return [p.title for p in response.context["page"].object_list]


def _impose(shop, kind, admin, *, days=30):
    return services.sanction_impose(
        shop_id=shop.pk, kind=kind, reason=REASON, admin=admin, ends_at=timezone.now() + timedelta(days=days)
    )


def _cart_add(product):
    cart = order_services.cart_for(user=UserFactory())
    return order_services.cart_add(cart=cart, variant_id=product.variants.get().pk, quantity=1)


def _status(shop) -> str:
    shop.refresh_from_db()
    return shop.status


@pytest.mark.parametrize(
    ("kind", "status"), [("listing_freeze", Shop.Status.FROZEN), ("suspension", Shop.Status.SUSPENDED)]
)
@pytest.mark.parametrize("ended_by", ["lift", "expiry"])
def test_a_freeze_or_suspension_takes_the_products_out_of_browse_and_the_cart_until_it_ends(
    client, clock, admin, kind, status, ended_by
):
    # given a shop with a product in browse
    product = make_product(title="Oolong tea", stock=5)
    shop = product.shop
    assert _titles(client.get("/products/")) == ["Oolong tea"]
    # when the sanction is imposed
    sanction = _impose(shop, kind, admin)
    # then the products leave browse and search, cannot be put in a cart, and the sanction shows
    assert _status(shop) == status
    assert _titles(client.get("/products/")) == []
    assert _titles(client.get("/search/", {"q": "oolong"})) == []
    with pytest.raises(DomainError, match="This item cannot be bought right now."):
        _cart_add(product)
    assert not CartItem.objects.exists()
    assert selectors.sanctions_in_force(shop=shop) == [sanction]
    # when it is lifted early, or its end date passes and the sweeper runs
    if ended_by == "lift":
        services.sanction_lift(sanction_id=sanction.pk, admin=admin)
    else:
        clock.advance(timedelta(days=30))
        assert tasks.sanctions_expire_task.apply().get() == 1
    # then everything is back, and the history keeps the sanction
    assert _status(shop) == Shop.Status.ACTIVE
    assert _titles(client.get("/products/")) == ["Oolong tea"]
    assert _cart_add(product).quantity == 1
    assert selectors.sanctions_in_force(shop=shop) == []
    sanction.refresh_from_db()
    assert selectors.sanction_history(shop=shop) == [sanction]
    assert sanction.ended_at == clock.now and sanction.reason == REASON
    assert (sanction.lifted_at, sanction.lifted_by) == ((clock.now, admin) if ended_by == "lift" else (None, None))


@pytest.fixture
def settled_sale(client):
    """A settled order of 1,500.00 through a promoter; shop and promoter can receive payouts."""
    order, promoter = shipped_sale(client, price=150_000)
    payout_account_connect(shop=order.shop)
    payout_account_connect(user=promoter)
    return settle_received(order), promoter


@pytest.mark.parametrize("kind", ["payout_hold", "suspension"])
@pytest.mark.parametrize("ended_by", ["lift", "expiry"])
def test_a_payout_hold_or_suspension_skips_the_shop_in_payout_runs_until_it_ends(
    settled_sale, clock, admin, kind, ended_by
):
    # given a shop with money available, under a sanction
    order, promoter = settled_sale
    sanction = _impose(order.shop, kind, admin, days=7)
    # when the payout run comes
    ids = payouts_run(minimum_minor=100)
    # then the shop is skipped; its promoter (not sanctioned) is paid
    assert list(Payout.objects.filter(pk__in=ids).values_list("shop_id", "user_id")) == [(None, promoter.pk)]
    # when the sanction ends
    if ended_by == "lift":
        services.sanction_lift(sanction_id=sanction.pk, admin=admin)
    else:
        clock.advance(timedelta(days=7))
        assert tasks.sanctions_expire_task.apply().get() == 1
    # then the next run pays the shop what it has
    ids = payouts_run(minimum_minor=100)
    fee, commission = order.total_minor * 500 // 10_000, 15_000
    assert list(Payout.objects.filter(pk__in=ids).values_list("shop_id", "amount_minor")) == [
        (order.shop_id, order.total_minor - fee - commission)
    ]


def test_a_listing_freeze_or_a_warning_does_not_stop_payouts(settled_sale, admin):
    order, _ = settled_sale
    _impose(order.shop, "listing_freeze", admin)
    _impose(order.shop, "warning", admin)
    ids = payouts_run(minimum_minor=100)
    assert Payout.objects.filter(pk__in=ids, shop=order.shop).count() == 1


def test_a_warning_is_shown_but_changes_nothing_else(client, admin):
    product = make_product(title="Oolong tea", stock=5)
    sanction = _impose(product.shop, "warning", admin)
    assert _status(product.shop) == Shop.Status.ACTIVE
    assert _titles(client.get("/products/")) == ["Oolong tea"]
    assert _cart_add(product).quantity == 1
    assert selectors.sanctions_in_force(shop=product.shop) == [sanction]


def test_the_strongest_sanction_in_force_decides_the_shops_status(admin):
    # given a freeze and a suspension at once
    shop = make_shop()
    freeze = _impose(shop, "listing_freeze", admin, days=30)
    suspension = _impose(shop, "suspension", admin, days=10)
    assert _status(shop) == Shop.Status.SUSPENDED
    # when the suspension is lifted, the freeze still holds
    services.sanction_lift(sanction_id=suspension.pk, admin=admin)
    assert _status(shop) == Shop.Status.FROZEN
    # when the freeze is lifted too, the shop is active again
    services.sanction_lift(sanction_id=freeze.pk, admin=admin)
    assert _status(shop) == Shop.Status.ACTIVE
    assert [s.pk for s in selectors.sanction_history(shop=shop)] == [suspension.pk, freeze.pk]


def test_a_sanction_ends_once(clock, admin):
    shop = make_shop()
    sanction = _impose(shop, "payout_hold", admin, days=1)
    services.sanction_lift(sanction_id=sanction.pk, admin=admin)
    with pytest.raises(ConflictError, match="This sanction has already ended."):
        services.sanction_lift(sanction_id=sanction.pk, admin=admin)
    clock.advance(timedelta(days=1))
    assert tasks.sanctions_expire_task.apply().get() == 0
    assert services.sanction_expire(sanction_id=sanction.pk) is False
    sanction.refresh_from_db()
    assert sanction.lifted_by == admin and sanction.ended_at is not None


@pytest.mark.parametrize("kind", ["warning", "payout_hold", "listing_freeze", "suspension"])
def test_a_sanction_never_undoes_a_suspension_it_did_not_place(admin, kind):
    # given a shop suspended by the marketplace outside the sanctions (the shop admin's action)
    shop = make_shop()
    shop_services.shop_suspend(shop_id=shop.pk, reason="Suspended by the marketplace pending review.")
    # when a sanction is imposed and then lifted
    sanction = _impose(shop, kind, admin)
    # then the shop stays suspended, for its own reason, all along
    shop.refresh_from_db()
    assert (shop.status, shop.suspended_reason) == (
        Shop.Status.SUSPENDED,
        "Suspended by the marketplace pending review.",
    )
    services.sanction_lift(sanction_id=sanction.pk, admin=admin)
    shop.refresh_from_db()
    assert (shop.status, shop.suspended_reason) == (
        Shop.Status.SUSPENDED,
        "Suspended by the marketplace pending review.",
    )


# --- Suggestions ------------------------------------------------------------------------------


def _lose_dispute(client, shop, admin, outcome="full_refund"):
    """A request on an order of `shop`, rejected, escalated and ruled with `outcome`."""
    order, _ = shipped_sale(client, shop=shop)
    request = open_request(order, kind="partial_refund", reason="damaged", amount=1_000)
    services.after_sales_reject(request_id=request.pk, merchant=shop.owner, note="It left our shop intact.")
    dispute = services.after_sales_escalate(request_id=request.pk, user=order.buyer, note="It arrived broken.")
    amount = 500 if outcome == "partial_refund" else None
    return services.dispute_rule(
        dispute_id=dispute.pk,
        admin=admin,
        outcome=outcome,
        amount_minor=amount,
        reason="Photos show the damage clearly.",
    )


def _chargeback(client, shop, *, won: bool):
    order, _ = shipped_sale(client, shop=shop)
    services.chargeback_open(
        stripe_dispute_id=f"dp_suggest_{order.pk}",
        payment_intent_id=order.group.payment_intent_id,
        amount_minor=order.total_minor,
        reason="fraudulent",
    )
    services.chargeback_close(stripe_dispute_id=f"dp_suggest_{order.pk}", won=won)


def test_a_shop_that_lost_the_configured_number_of_disputes_is_suggested_for_a_sanction(client, admin, settings):
    # given a shop that lost two disputes, and won two cases
    settings.MARKETPLACE_SANCTION_SUGGEST_LOSSES = 3
    shop = make_shop()
    other = make_shop()
    _lose_dispute(client, shop, admin, "full_refund")
    _lose_dispute(client, shop, admin, "partial_refund")
    _lose_dispute(client, shop, admin, "release")
    _chargeback(client, shop, won=True)
    _lose_dispute(client, other, admin, "full_refund")
    # then it is not suggested yet
    assert selectors.sanction_suggestions() == []
    # when it loses a third (a chargeback lost counts)
    _chargeback(client, shop, won=False)
    # then it is suggested, with its count
    assert selectors.sanction_suggestions() == [{"shop": shop, "lost": 3}]
    # when a sanction is in force it is not suggested again; when that ends, it is
    sanction = _impose(shop, "warning", admin)
    assert selectors.sanction_suggestions() == []
    services.sanction_lift(sanction_id=sanction.pk, admin=admin)
    assert selectors.sanction_suggestions() == [{"shop": shop, "lost": 3}]


def test_losses_older_than_the_window_do_not_count(client, admin, settings):
    settings.MARKETPLACE_SANCTION_SUGGEST_LOSSES = 2
    shop = make_shop()
    old = _lose_dispute(client, shop, admin)
    _lose_dispute(client, shop, admin)
    assert selectors.sanction_suggestions() == [{"shop": shop, "lost": 2}]
    window = timedelta(days=settings.MARKETPLACE_SANCTION_SUGGEST_DAYS)
    Dispute.objects.filter(pk=old.pk).update(ruled_at=timezone.now() - window - timedelta(seconds=1))
    assert selectors.sanction_suggestions() == []
    assert Sanction.objects.count() == 0
