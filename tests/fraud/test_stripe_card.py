"""The card fingerprint comes from the Stripe charge, as real Stripe sends it."""

import json
from pathlib import Path

import pytest

from orders.models import OrderGroup
from payments import stripe_client
from payments.models import CommissionHold
from tests.factories import UserFactory
from tests.fraud.helpers import referred_sale

# A PaymentIntent with its latest charge expanded, in the shape of Stripe's API reference
# (2025-01-27.acacia): the fingerprint is at latest_charge.payment_method_details.card.
RECORDED = json.loads((Path(__file__).parent / "payment_intent_expanded.json").read_text())


def test_it_reads_the_fingerprint_from_an_expanded_charge():
    assert stripe_client.card_fingerprint_of(payment_intent=RECORDED) == "Xt5EWLLDS7FJjR1c"


def test_it_finds_no_fingerprint_on_a_payment_intent_without_a_card_charge():
    # given: an Alipay charge has no card details
    alipay = {**RECORDED, "latest_charge": {**RECORDED["latest_charge"], "payment_method_details": {"type": "alipay"}}}
    assert stripe_client.card_fingerprint_of(payment_intent=alipay) == ""


@pytest.mark.django_db
def test_the_webhook_fetches_the_charge_and_stores_its_fingerprint(client, stripe_fake):
    # given / when: a referred sale paid with the Mastercard test card
    line = referred_sale(client, buyer=UserFactory(), promoter=UserFactory(), card="pm_card_mastercard")
    # then: the PaymentIntent carries no fingerprint in its metadata; the group has the charge's
    group = OrderGroup.objects.get(pk=line.order.group_id)
    assert group.card_fingerprint == "fp_local_mastercard"
    assert [c.method for c in stripe_fake.calls if c.path.startswith("/v1/charges/")] == ["GET"]


@pytest.mark.django_db
def test_a_second_account_on_the_promoters_card_earns_nothing(client, stripe_fake):
    # given: the promoter paid once with a card
    promoter, second = UserFactory(), UserFactory()
    referred_sale(client, buyer=promoter, promoter=UserFactory(), card="pm_card_mastercard")
    # when: a second account pays with the same card through the promoter's link
    line = referred_sale(client, buyer=second, promoter=promoter, card="pm_card_mastercard")
    # then: the pairwise card check (real Stripe shape) refused the commission
    line.refresh_from_db()
    assert (line.commission_bps, line.commission_base_minor) == (0, 0)
    assert not CommissionHold.objects.filter(line=line).exists()
