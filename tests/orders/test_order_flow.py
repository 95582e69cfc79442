import pytest
from django.core.management import call_command

from orders.models import Order, OrderGroup
from payments import ledger
from payments import services as payment_services
from payments.ledger import Kind
from payments.models import LedgerEntry
from payments.services import reconcile
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import pay, place, settle_due, ship_confirm_and_age

pytestmark = pytest.mark.django_db


def test_the_whole_life_of_a_two_shop_order(client):
    # given two shops and a buyer
    tea = make_shop(shipping_fee_minor=800)
    cups = make_shop()
    a = make_product(shop=tea, price_minor=6800, stock=5).variants.get()
    b = make_product(shop=cups, price_minor=12800, stock=2).variants.get()
    buyer = UserFactory()

    # when the buyer checks out one cart across both shops
    group = place(buyer, (a, 2), (b, 1))

    # then one group, one order per shop, stock reserved
    assert group.total_minor == 6800 * 2 + 800 + 12800
    orders = list(group.orders.order_by("shop_id"))
    assert [o.total_minor for o in orders] == [6800 * 2 + 800, 12800]
    a.refresh_from_db()
    assert a.stock == 3

    # when the buyer pays and Stripe's signed webhook arrives
    group = pay(client, group)

    # then every order's money is held in its escrow
    assert group.status == OrderGroup.Status.PAID
    for order in group.orders.all():
        assert order.status == Order.Status.PAID
        assert ledger.balance_of(kind=Kind.ESCROW, order=order) == order.total_minor

    # when one order is shipped, received and its after-sales window ends
    first = ship_confirm_and_age(orders[0])
    settled = settle_due()

    # then it is settled: fee 5% rounded down, the shop gets the rest, escrow is empty
    assert settled == 1
    first.refresh_from_db()
    assert first.status == Order.Status.SETTLED
    assert ledger.balance_of(kind=Kind.ESCROW, order=first) == 0
    fee = first.total_minor * 500 // 10_000
    assert ledger.balance_of(kind=Kind.MERCHANT_AVAILABLE, shop=tea) == first.total_minor - fee
    assert ledger.balance_of(kind=Kind.PLATFORM_FEES) == fee
    # and the books reconcile
    report = reconcile()
    assert report.problems == []
    assert LedgerEntry.objects.count() > 0


def test_cancel_before_shipping_refunds_in_full_and_restocks(client):
    product = make_product(price_minor=5000, stock=3)
    variant = product.variants.get()
    buyer = UserFactory()
    group = pay(client, place(buyer, (variant, 2)))
    order = group.orders.get()

    payment_services.order_cancel(order_id=order.pk, actor=buyer, reason="Changed my mind.")

    order.refresh_from_db()
    variant.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.refunded_minor == order.total_minor
    assert ledger.balance_of(kind=Kind.ESCROW, order=order) == 0
    assert ledger.balance_of(kind=Kind.REFUNDS) == order.total_minor
    assert variant.stock == 3
    assert reconcile().ok


def test_a_declined_card_changes_no_money(client):
    variant = make_product(price_minor=5000, stock=3).variants.get()
    group = place(UserFactory(), (variant, 1))

    from payments.stripe_client import StripeFailure

    with pytest.raises(StripeFailure) as caught:
        pay(client, group, card="pm_card_chargeDeclined")

    assert caught.value.user_message == "Your card was declined."
    group.refresh_from_db()
    assert group.status == OrderGroup.Status.PENDING_PAYMENT
    assert not LedgerEntry.objects.exists()
    assert group.orders.get().events.filter(kind="payment_failed").exists()


def test_reconcile_command_reports_ok(client, capsys):
    variant = make_product(price_minor=5000, stock=3).variants.get()
    pay(client, place(UserFactory(), (variant, 1)))
    call_command("reconcile")
    assert "OK: the ledger balances" in capsys.readouterr().out
