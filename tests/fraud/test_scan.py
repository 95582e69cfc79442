"""The ring scan on a small database: the planted ring is found, the family is not; a
second scan opens nothing new; a cleared ring comes back only with new evidence."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from fraud import services
from fraud.cases import fraud_scan
from fraud.models import Case
from payments.models import CommissionHold
from tests.factories import UserFactory
from tests.fraud.helpers import plant_commission_ring, plant_family, referred_sale

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.FRAUD_SHARED_IDENTIFIER_MAX = 6
    settings.FRAUD_RING_MIN_ACCOUNTS = 3
    settings.FRAUD_RING_MIN_SCORE = 1.0


def test_the_scan_flags_the_ring_and_not_the_family(client, stripe_fake):
    # given
    owners, promoters, lines = plant_commission_ring(client)
    family = plant_family(client)
    # when
    out = StringIO()
    call_command("fraud_scan", "--json", stdout=out)
    # then: exactly the ring's five accounts
    flagged = json.loads(out.getvalue())["flagged"]
    assert flagged == sorted(u.pk for u in [*owners, *promoters])
    assert not set(flagged) & {u.pk for u in family}
    case = Case.objects.get()
    assert case.status == "open"
    assert sorted(case.line_ids) == sorted(line.pk for line in lines)
    # the shared phone links all five; the test card all three buyers
    assert sorted(case.links.values_list("kind", "accounts")) == [("card", 3), ("visitor", 5)]


def test_the_case_holds_the_rings_commissions(client, stripe_fake):
    _, _, lines = plant_commission_ring(client)
    fraud_scan()
    held = CommissionHold.objects.filter(line__in=lines, status="held")
    assert held.count() == len(lines) == 6


def test_a_second_scan_opens_no_second_case(client, stripe_fake):
    plant_commission_ring(client)
    first = fraud_scan()
    second = fraud_scan()
    assert (len(first.opened), len(second.opened), Case.objects.count()) == (1, 0, 1)
    assert second.flagged == first.flagged


def test_a_cleared_ring_comes_back_only_with_new_orders(client, stripe_fake):
    # given: a ring, scanned and cleared by staff
    owners, promoters, lines = plant_commission_ring(client)
    case = fraud_scan().opened[0]
    services.case_clear(case_id=case.pk, staff=UserFactory(is_staff=True), reason="A real buying club")
    # when / then: nothing new, no case
    assert fraud_scan().opened == []
    # when: the ring buys again
    referred_sale(client, buyer=owners[0], promoter=promoters[0], product=lines[0].product)
    reopened = fraud_scan().opened
    # then
    assert len(reopened) == 1 and reopened[0].pk != case.pk


def test_the_command_prints_its_cases(client, stripe_fake):
    plant_commission_ring(client)
    out = StringIO()
    call_command("fraud_scan", stdout=out)
    assert "linked by card×3, visitor×5" in out.getvalue()
    assert out.getvalue().strip().endswith("1 rings, 1 new cases")
