"""The staff console needs staff; promoters see only "under review" and a category."""

import pytest

from fraud.cases import fraud_scan
from fraud.models import Case
from payments.models import CommissionHold
from tests.factories import UserFactory
from tests.fraud.helpers import plant_commission_ring

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.FRAUD_SHARED_IDENTIFIER_MAX = 6


def test_the_console_is_invisible_to_everyone_but_staff(client, stripe_fake):
    plant_commission_ring(client)
    case = fraud_scan().opened[0]
    client.force_login(UserFactory())
    for url in ["/staff/fraud/", f"/staff/fraud/{case.pk}/"]:
        assert client.get(url).status_code == 404
    response = client.post(f"/staff/fraud/{case.pk}/decide/", {"action": "confirm", "reason": "x"})
    assert response.status_code == 404
    case.refresh_from_db()
    assert case.status == "open"


def test_staff_read_the_queue_and_the_case_with_its_picture(client, stripe_fake):
    owners, promoters, _ = plant_commission_ring(client)
    case = fraud_scan().opened[0]
    client.force_login(UserFactory(is_staff=True))
    queue = client.get("/staff/fraud/").content.decode()
    assert f"Case {case.pk}" in queue
    page = client.get(f"/staff/fraud/{case.pk}/").content.decode()
    ring = page.split('aria-label="The ring', 1)[1].split("</svg>", 1)[0]
    # five accounts; each owner buys from two shops through two promoters: four pairs each
    assert (ring.count("<circle"), ring.count("<line")) == (5, 12)
    assert "Visitor cookie" in page and owners[0].email in page


def test_a_decision_without_a_reason_is_refused_with_a_message(client, stripe_fake):
    plant_commission_ring(client)
    case = fraud_scan().opened[0]
    client.force_login(UserFactory(is_staff=True))
    response = client.post(f"/staff/fraud/{case.pk}/decide/", {"action": "clear", "reason": ""}, follow=True)
    assert "Say why" in response.content.decode()
    assert Case.objects.get(pk=case.pk).status == "open"


def test_staff_confirm_from_the_case_page(client, stripe_fake):
    _, _, lines = plant_commission_ring(client)
    case = fraud_scan().opened[0]
    client.force_login(UserFactory(is_staff=True))
    client.post(f"/staff/fraud/{case.pk}/decide/", {"action": "confirm", "reason": "Ring of owners"})
    case.refresh_from_db()
    assert (case.status, case.decision_reason) == ("confirmed", "Ring of owners")
    assert set(CommissionHold.objects.filter(line__in=lines).values_list("status", flat=True)) == {"voiding"}


def test_the_promoter_sees_under_review_and_a_category_never_the_evidence(client, stripe_fake):
    _, promoters, _ = plant_commission_ring(client)
    case = fraud_scan().opened[0]
    client.force_login(promoters[0])
    page = client.get("/promoter/").content.decode()
    assert "under review" in page
    assert "The buyer and the promoter appear to be the same person" in page
    assert "share:" not in page and f"fraud case {case.pk}" not in page and "visitor" not in page
