"""An order that fails settlement's checks is put on hold with the reason; the rest of its
batch settles, and the sweep goes on past it."""

import pytest
from django.utils.html import escape

from marketplace.money import bps_share, money_format
from orders.models import Order, OrderLine
from payments import ledger, tasks
from payments.ledger import Kind
from payments.models import LedgerEntry, LedgerTransaction
from payments.selectors import promoter_balances
from payments.services import SETTLEMENT_HOLD_NOTE, orders_settle_due_batch, reconcile, settlement_parts
from referrals import services as referral_services
from tests.factories import UserFactory, make_product
from tests.helpers import pay, place, settle_due, ship_confirm_and_age

pytestmark = pytest.mark.django_db


def _due_sales(client, promoter, count: int) -> list[Order]:
    """`count` received orders past their after-sales window, each shared by `promoter` at 10%."""
    orders = []
    for i in range(count):
        product = make_product(price_minor=10_000 + i, commission_bps=1000, stock=5)
        share = referral_services.share_create(promoter=promoter, product=product)
        group = pay(client, place(UserFactory(), (product.variants.get(), 1), shares_by_product={product.pk: share}))
        orders.append(ship_confirm_and_age(group.orders.get()))
    return orders


def _move_commission_into_escrow(order: Order, promoter, amount: int) -> None:
    """The corruption: a balanced posting by hand that takes part of the order's pending
    commission back into its escrow. The books still balance; the parts no longer match."""
    ledger.ledger_post(
        idempotency_key=f"by-hand:{order.pk}",
        kind=LedgerTransaction.Kind.ADJUSTMENT,
        order=order,
        entries=[
            (ledger.account_get(kind=Kind.PROMOTER_PENDING, user=promoter), -amount),
            (ledger.account_get(kind=Kind.ESCROW, order=order), amount),
        ],
    )


def _statuses(orders: list[Order]) -> list[tuple[str, bool]]:
    rows = dict(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("pk", "status"))
    held = set(Order.objects.filter(pk__in=[o.pk for o in orders], is_held=True).values_list("pk", flat=True))
    return [(rows[o.pk], o.pk in held) for o in orders]


def _commission(order: Order) -> int:
    return sum(settlement_parts(order).commissions.values())


def test_a_corrupted_order_is_held_with_the_reason_and_the_rest_of_its_batch_settles(client):
    # given three due orders, the middle one's commission partly moved back into its escrow
    promoter = UserFactory()
    first, bad, last = _due_sales(client, promoter, 3)
    _move_commission_into_escrow(bad, promoter, 100)
    assert reconcile().ok

    # when
    batch = orders_settle_due_batch(batch_size=10)

    # then the others settle and the corrupted one is held, saying why
    assert (batch.settled, list(batch.held)) == (2, [bad.pk])
    assert _statuses([first, bad, last]) == [("settled", False), ("received", True), ("settled", False)]
    bad.refresh_from_db()
    escrow_due = bad.total_minor - _commission(bad)
    reason = (
        f"Settlement refused: its escrow holds {money_format(escrow_due + 100)}, not the {money_format(escrow_due)} "
        f"expected; promoter {promoter.pk}'s pending commission is ¥9.00, not the ¥10.00 due."
    )
    assert bad.held_reason == reason
    assert batch.held == {bad.pk: reason}
    # and the timeline buyer and merchant read says it is being checked, without the details
    assert list(bad.events.filter(kind="held").values_list("note", flat=True)) == [SETTLEMENT_HOLD_NOTE]
    # the held order's commission waits frozen; the others' became available
    balances = promoter_balances(user=promoter)
    assert (balances["pending"], balances["frozen"]) == (0, 900)
    assert balances["available"] == _commission(first) + _commission(last)
    # its escrow was not released, and the books still prove out
    assert not LedgerEntry.objects.filter(transaction__kind="settlement", account__order=bad).exists()
    assert reconcile().ok
    # and later sweeps leave it to the admin
    assert settle_due() == 0


def test_an_order_whose_fees_and_commissions_exceed_what_was_kept_is_held(client):
    # given two due orders, one of whose lines was edited to a 99% commission after payment
    promoter = UserFactory()
    good, bad = _due_sales(client, promoter, 2)
    OrderLine.objects.filter(order=bad).update(commission_bps=9900)

    # when
    batch = orders_settle_due_batch(batch_size=10)

    # then
    assert (batch.settled, list(batch.held)) == (1, [bad.pk])
    assert _statuses([good, bad]) == [("settled", False), ("received", True)]
    bad.refresh_from_db()
    line = bad.lines.get()
    platform, due = bps_share(bad.total_minor, bad.platform_fee_bps), bps_share(line.commission_base_minor, 9900)
    assert bad.held_reason == (
        f"Settlement refused: its escrow holds {money_format(bad.total_minor - 1000)}, not the "
        f"{money_format(bad.total_minor - due)} expected; fees and commissions ({money_format(platform + due)}) "
        f"exceed what was kept ({money_format(bad.total_minor)}); promoter {promoter.pk}'s pending commission "
        f"is ¥10.00, not the {money_format(due)} due."
    )
    assert reconcile().ok


def test_the_sweep_goes_on_past_a_batch_with_a_held_order(client, monkeypatch):
    # given three due orders, the first one corrupted, and batches of two
    promoter = UserFactory()
    bad, *others = _due_sales(client, promoter, 3)
    _move_commission_into_escrow(bad, promoter, 1)
    sent = []
    monkeypatch.setattr(tasks.orders_settle_due_task, "delay", lambda *args: sent.append(args))

    # when beat sends the sweep, and the worker runs what it re-enqueues
    settled = [tasks.orders_settle_due_task.apply(args=[2]).get()]
    while sent:
        settled.append(tasks.orders_settle_due_task.apply(args=sent.pop()).get())

    # then the first batch (one held, one settled) was full, so the next one ran
    assert settled == [1, 1]
    assert _statuses([bad, *others]) == [("received", True), ("settled", False), ("settled", False)]
    assert reconcile().ok


def test_an_admin_sees_why_settlement_held_an_order(client, admin_client):
    # given an order held by settlement
    promoter = UserFactory()
    (bad,) = _due_sales(client, promoter, 1)
    _move_commission_into_escrow(bad, promoter, 1)
    settle_due()
    bad.refresh_from_db()

    # when an admin lists the held orders and opens this one
    listing = admin_client.get("/admin/orders/order/", {"is_held__exact": "1"})
    page = admin_client.get(f"/admin/orders/order/{bad.pk}/change/")

    # then both show the reason, and the page shows the timeline's note too
    assert listing.status_code == page.status_code == 200
    assert bad.held_reason.startswith("Settlement refused: its escrow holds")
    assert escape(bad.held_reason) in listing.content.decode()
    assert escape(bad.held_reason) in page.content.decode()
    assert escape(SETTLEMENT_HOLD_NOTE) in page.content.decode()


def test_the_buyer_sees_a_settlement_hold_without_its_accounting_details(client):
    # given an order held by settlement
    promoter = UserFactory()
    (bad,) = _due_sales(client, promoter, 1)
    _move_commission_into_escrow(bad, promoter, 1)
    settle_due()

    # when its buyer opens it
    client.force_login(bad.buyer)
    page = client.get(f"/orders/{bad.pk}/").content.decode()

    # then the page says it is on hold and being checked, and names no account or promoter
    assert "On hold" in page
    assert escape(SETTLEMENT_HOLD_NOTE) in page
    assert "Settlement refused" not in page
    assert f"promoter {promoter.pk}" not in page
