import pytest

from fraud.cases import fraud_scan
from fraud.models import Case
from payments.models import CommissionHold
from tests.factories import UserFactory
from tests.fraud.helpers import plant_commission_ring
from tests.helpers import PHONE, books_ok, log_in, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_confirm_a_ring_and_the_promoter_sees_the_commission_voided(
    browser, phone, live_server, client, settings
):
    # given: a planted ring found by the nightly scan
    settings.FRAUD_SHARED_IDENTIFIER_MAX = 6
    _, promoters, lines = plant_commission_ring(client)
    case = fraud_scan().opened[0]
    staff = UserFactory(is_staff=True)

    # when staff open the fraud queue and read the case
    log_in(phone, staff.email)
    phone.goto("/staff/fraud/")
    phone.get_by_role("link", name=f"Case {case.pk}").click()
    phone.get_by_role("img", name="The ring: accounts and who bought from whom").wait_for()
    phone.get_by_role("heading", name="Linked by").wait_for()
    phone.shot("case")
    # and confirm it with a reason
    phone.get_by_label("Reason (recorded)").fill("Three shop owners buying from each other through two links")
    phone.get_by_role("button", name="Confirm fraud").click()
    phone.get_by_text("Confirmed: the commissions are voided").wait_for()

    # then the case is confirmed and every commission of the ring is voided (at settlement)
    wait_until(lambda: Case.objects.get(pk=case.pk).status == "confirmed", "the case to be confirmed")
    assert set(CommissionHold.objects.filter(line__in=lines).values_list("status", flat=True)) == {"voiding"}
    books_ok()

    # when the promoter opens the promoter centre
    context = browser.new_context(**PHONE, base_url=live_server.url)
    promoter_page = context.new_page()
    log_in(promoter_page, promoters[0].email)
    promoter_page.goto("/promoter/")
    # then: voided, with the plain category and nothing of the evidence
    holds = promoter_page.locator("#commission-holds")
    holds.get_by_text("voided").first.wait_for()
    text = holds.inner_text()
    assert "The buyer and the promoter appear to be the same person" in text
    assert "visitor" not in text.lower() and "case" not in text.lower()
    context.close()
