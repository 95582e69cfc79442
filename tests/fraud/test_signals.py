"""Identifiers are normalised, then stored as keyed hashes with first and last sight."""

import pytest

from fraud import services
from fraud.models import Signal
from fraud.signals import address_normalize, email_normalize, ip_truncate, phone_normalize
from tests.factories import UserFactory


def test_emails_are_one_mailbox_whatever_the_case_tags_and_gmail_dots():
    assert email_normalize(" Li.Lei+shop@GoogleMail.com ") == "lilei@gmail.com"
    assert email_normalize("li.lei+x@example.com") == "li.lei@example.com"


def test_addresses_phones_and_networks_are_normalised():
    assert address_normalize("1 Garden Road,  Flat 2", "Hangzhou") == "1 garden road flat 2 hangzhou"
    assert phone_normalize("+86 138-0000-0000") == "13800000000"
    assert ip_truncate("203.0.113.77") == "203.0.113.0/24"
    assert ip_truncate("not an ip") == ""


@pytest.mark.django_db
def test_a_signal_keeps_its_first_sight_and_no_raw_value():
    user = UserFactory()
    services.signals_record(user_id=user.pk, values={"email": "A.B@gmail.com"})
    first = Signal.objects.get(user=user)
    services.signals_record(user_id=user.pk, values={"email": "ab+x@gmail.com"})
    again = Signal.objects.get(user=user)
    assert (again.first_seen_at, again.value) == (first.first_seen_at, first.value)
    assert again.last_seen_at > first.last_seen_at
    assert "ab" not in again.value and len(again.value) == 40
