"""The real-time rules at payment: each fires on its planted case, not on its benign twin,
and each hold carries its reason."""

import pytest
from django.utils import timezone

from accounts.models import User
from fraud import services
from fraud.models import RuleHit
from payments.models import CommissionHold
from tests.factories import UserFactory, make_product
from tests.fraud.helpers import address, referred_sale

pytestmark = pytest.mark.django_db


def hold_of(line):
    return CommissionHold.objects.filter(line=line).values_list("category", "status").first()


def test_a_family_at_one_address_buying_through_a_stranger_holds_nothing(client, stripe_fake):
    # given: three people at one home
    home = address(9002)
    promoter = UserFactory()
    lines = [referred_sale(client, buyer=UserFactory(), promoter=promoter, where=home) for _ in range(2)]
    # then: the promoter shares nothing with them
    assert [hold_of(line) for line in lines] == [None, None]


def test_a_cafe_network_links_nobody(client, stripe_fake, settings):
    # given: the promoter and the buyer were seen on a café's network shared by a crowd
    settings.FRAUD_SHARED_IDENTIFIER_MAX = 3
    promoter, buyer = UserFactory(), UserFactory()
    for user in [promoter, buyer, *UserFactory.create_batch(3)]:
        services.signals_record(user_id=user.pk, values={"visitor": "cafe-tablet-0001"})
    # when
    line = referred_sale(client, buyer=buyer, promoter=promoter)
    # then
    assert hold_of(line) is None


def test_a_shared_device_of_two_accounts_links_them(client, stripe_fake, settings):
    settings.FRAUD_SHARED_IDENTIFIER_MAX = 3
    promoter, buyer = UserFactory(), UserFactory()
    for user in [promoter, buyer]:
        services.signals_record(user_id=user.pk, values={"visitor": "phone-of-one-person"})
    line = referred_sale(client, buyer=buyer, promoter=promoter)
    assert hold_of(line) == ("same_person", "held")


def test_an_account_made_minutes_before_buying_through_a_link_is_held(client, stripe_fake, settings):
    # given: the rule on; one buyer joined now, its twin a week ago
    settings.FRAUD_NEW_ACCOUNT_MINUTES = 10
    fresh, old = UserFactory(), UserFactory()
    User.objects.filter(pk=old.pk).update(date_joined=timezone.now() - timezone.timedelta(days=7))
    old.refresh_from_db()
    promoter = UserFactory()
    # when
    fresh_line = referred_sale(client, buyer=fresh, promoter=promoter)
    old_line = referred_sale(client, buyer=old, promoter=promoter)
    # then
    assert hold_of(fresh_line) == ("unusual_buying", "held")
    assert RuleHit.objects.get(line=fresh_line).rule == "new_account"
    assert hold_of(old_line) is None


def test_the_same_item_again_and_again_through_one_promoter_is_held(client, stripe_fake, settings):
    settings.FRAUD_REPEAT_ITEM_PROMOTER = 3
    buyer, promoter = UserFactory(), UserFactory()
    product = make_product(price_minor=10_000, commission_bps=1000, stock=50)
    lines = [referred_sale(client, buyer=buyer, promoter=promoter, product=product) for _ in range(3)]
    assert [hold_of(line) for line in lines] == [None, None, ("unusual_buying", "held")]
    assert "3 times" in RuleHit.objects.get(line=lines[2]).reason


def test_many_referred_purchases_from_one_device_in_a_day_are_held(client, stripe_fake, settings):
    # given: four accounts on one device (not a crowd), the limit 2 referred orders a day
    settings.FRAUD_DEVICE_DAILY_REFERRED = 2
    buyers = UserFactory.create_batch(4)
    for user in buyers:
        services.signals_record(user_id=user.pk, values={"visitor": "one-device"})
    # when: each buys through a different stranger's link
    lines = [referred_sale(client, buyer=b, promoter=UserFactory()) for b in buyers]
    # then: the third order of the day from the device on is held
    assert [hold_of(line) for line in lines] == [None, None] + [("unusual_buying", "held")] * 2
    assert RuleHit.objects.filter(rule="device_burst").count() == 2
