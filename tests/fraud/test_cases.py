"""Holds and staff decisions: a held commission is never paid out; confirm voids it in the
ledger with the books still balanced; clear releases it to the next payout."""

import pytest

from fraud import services
from fraud.cases import fraud_scan
from marketplace.errors import DomainError
from orders.models import Order
from payments.models import CommissionHold, Payout
from payments.selectors import merchant_balances, promoter_balances
from payments.services import payout_account_connect, payouts_run
from reviews.services import Forbidden
from tests.factories import UserFactory
from tests.fraud.helpers import plant_commission_ring
from tests.helpers import books_ok, settle_due, ship_confirm_and_age

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.FRAUD_SHARED_IDENTIFIER_MAX = 6


def settled_ring(client):
    """The planted ring with every order settled and every payee connected; its case."""
    owners, promoters, lines = plant_commission_ring(client)
    case = fraud_scan().opened[0]
    for line in lines:
        ship_confirm_and_age(Order.objects.get(pk=line.order_id))
    assert settle_due() == len(lines)
    for user in promoters:
        payout_account_connect(user=user)
    return case, promoters, lines


def available(promoter) -> int:
    return promoter_balances(user=promoter)["available"]


def merchants(lines) -> int:
    shops = {line.order.shop for line in lines}
    return sum(merchant_balances(shop=shop)["available"] for shop in shops)


def paid_to(user) -> int:
    return sum(Payout.objects.filter(user=user).values_list("amount_minor", flat=True))


def test_a_held_commission_is_not_paid_out(client, stripe_fake):
    # given: each promoter earned 3 × 1000 on the ring's settled orders, all held
    case, promoters, _ = settled_ring(client)
    # when
    payouts_run(minimum_minor=1)
    # then
    assert [paid_to(p) for p in promoters] == [0, 0]
    assert [available(p) for p in promoters] == [3000, 3000]


def test_confirm_voids_the_commissions_through_the_ledger(client, stripe_fake):
    case, promoters, lines = settled_ring(client)
    staff = UserFactory(is_staff=True)
    merchants_before = merchants(lines)
    # when
    services.case_confirm(
        case_id=case.pk, staff=staff, reason="Owners buy from each other", suspend_promoter_payouts=True
    )
    # then: nothing left to pay the promoters, the merchants got it back, the books balance
    assert [available(p) for p in promoters] == [0, 0]
    assert list(CommissionHold.objects.filter(line__in=lines).values_list("status", flat=True).distinct()) == ["voided"]
    assert sum(CommissionHold.objects.filter(line__in=lines).values_list("voided_minor", flat=True)) == 6000
    assert merchants(lines) == merchants_before + 6000
    books_ok()
    payouts_run(minimum_minor=1)
    assert [paid_to(p) for p in promoters] == [0, 0]
    case.refresh_from_db()
    assert (case.status, case.decided_by, case.decision_reason) == ("confirmed", staff, "Owners buy from each other")


def test_clear_releases_the_commissions_to_the_next_payout(client, stripe_fake):
    case, promoters, lines = settled_ring(client)
    services.case_clear(case_id=case.pk, staff=UserFactory(is_staff=True), reason="A buying club, checked")
    payouts_run(minimum_minor=1)
    assert [paid_to(p) for p in promoters] == [3000, 3000]
    assert set(CommissionHold.objects.filter(line__in=lines).values_list("status", flat=True)) == {"released"}
    books_ok()


def test_confirm_before_settlement_voids_when_the_order_settles(client, stripe_fake):
    # given: a confirmed case whose orders have not settled
    _, promoters, lines = plant_commission_ring(client)
    case = fraud_scan().opened[0]
    services.case_confirm(case_id=case.pk, staff=UserFactory(is_staff=True), reason="Ring")
    assert set(CommissionHold.objects.filter(line__in=lines).values_list("status", flat=True)) == {"voiding"}
    # when: they settle and the nightly scan runs
    for line in lines:
        ship_confirm_and_age(Order.objects.get(pk=line.order_id))
    settle_due()
    fraud_scan()
    # then
    assert set(CommissionHold.objects.filter(line__in=lines).values_list("status", flat=True)) == {"voided"}
    assert [available(p) for p in promoters] == [0, 0]
    books_ok()


def test_decisions_need_staff_and_a_reason(client, stripe_fake):
    _, _, lines = plant_commission_ring(client)
    case = fraud_scan().opened[0]
    with pytest.raises(Forbidden):
        services.case_confirm(case_id=case.pk, staff=UserFactory(), reason="I say so")
    with pytest.raises(DomainError):
        services.case_clear(case_id=case.pk, staff=UserFactory(is_staff=True), reason="  ")
    case.refresh_from_db()
    assert case.status == "open"
    assert set(CommissionHold.objects.filter(line__in=lines).values_list("status", flat=True)) == {"held"}


def test_split_makes_two_cases_with_their_own_evidence(client, stripe_fake):
    owners, promoters, lines = plant_commission_ring(client)
    case = fraud_scan().opened[0]
    parts = services.case_split(
        case_id=case.pk, staff=UserFactory(is_staff=True), reason="Two groups", member_ids=[owners[0].pk]
    )
    case.refresh_from_db()
    assert case.status == "split"
    assert [len(p.line_ids) for p in parts] == [2, 4]
    assert sorted(parts[0].members.values_list("pk", flat=True)) == [owners[0].pk]
