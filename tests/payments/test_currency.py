"""Minor units per ISO 4217, Stripe's rule for three-decimal currencies, minimums scaled
per currency, and a currency change on a database that has postings."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import IntegrityError, connection, transaction

from marketplace.money import (
    CURRENCY_EXPONENTS,
    MoneyError,
    currency_exponent_iso,
    money_for_stripe,
    money_format,
    money_parse,
)
from orders.models import Order
from payments import ledger
from payments.checks import ledger_currency_check
from payments.ledger import Kind, LedgerCurrencyMismatch
from payments.models import LedgerEntry, LedgerTransaction
from payments.services import reconcile
from payments.stripe_client import _request as stripe_request
from tests.factories import UserFactory, make_product
from tests.helpers import pay, place, settle_due, ship_confirm_and_age

ROOT = Path(__file__).resolve().parents[2]


def test_minor_units_come_from_the_iso_4217_table():
    assert (CURRENCY_EXPONENTS["CNY"], CURRENCY_EXPONENTS["JPY"], CURRENCY_EXPONENTS["KWD"]) == (2, 0, 3)
    # codes a hand list would miss: four decimals (Chile's unit of account), three (Iraq, Libya)
    assert (CURRENCY_EXPONENTS["CLF"], CURRENCY_EXPONENTS["IQD"], CURRENCY_EXPONENTS["LYD"]) == (4, 3, 3)
    # gold and unknown codes have no minor units
    assert currency_exponent_iso("XAU") is None and currency_exponent_iso("XYZ") is None
    assert len(CURRENCY_EXPONENTS) > 150


@pytest.mark.parametrize("currency", ["BHD", "JOD", "KWD", "OMR", "TND"])
@pytest.mark.parametrize(
    ("text", "minor"), [("5.124", 5120), ("5.125", 5130), ("5.12", 5120), ("0.004", 0), ("0.995", 1000)]
)
def test_three_decimal_amounts_are_rounded_to_the_nearest_ten_as_stripe_requires(currency, text, minor):
    assert money_parse(text, currency) == minor


def test_other_currencies_keep_every_minor_unit():
    assert money_parse("5.12", "USD") == 512
    assert money_parse("5124", "JPY") == 5124
    assert money_parse("5.1235", "CLF") == 51235


def test_an_amount_off_stripes_step_is_never_sent_to_stripe():
    assert money_for_stripe(5120, "KWD") == 5120
    assert money_for_stripe(5124, "USD") == 5124
    with pytest.raises(MoneyError, match="KWD amounts sent to Stripe end in 0"):
        money_for_stripe(5124, "KWD")


def _settings_run(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MARKETPLACE_PAYOUT_MINIMUM")}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT, env=clean | env | {"DJANGO_SETTINGS_MODULE": "marketplace.settings"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(("currency", "minimum"), [("CNY", 10_000), ("JPY", 100), ("KWD", 100_000)])
def test_the_payout_minimum_is_scaled_to_the_currency(currency, minimum):
    # the default minimum is 100 of the currency's major unit, kept in its minor units
    code = "from django.conf import settings; print(settings.MARKETPLACE_PAYOUT_MINIMUM_MINOR)"
    result = _settings_run(code, MARKETPLACE_CURRENCY=currency)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) == minimum


@pytest.mark.parametrize(
    ("currency", "message"),
    [
        ("XYZ", "not an ISO 4217 currency"),
        ("XAU", "not an ISO 4217 currency with minor units"),
        ("ISK", "Stripe takes ISK in another unit"),
    ],
)
def test_a_currency_that_cannot_be_charged_in_minor_units_is_refused_at_start(currency, message):
    result = _settings_run("print('started')", MARKETPLACE_CURRENCY=currency)
    assert result.returncode != 0
    assert message in result.stderr
    assert "started" not in result.stdout


@pytest.mark.django_db
def test_a_three_decimal_currency_is_charged_settled_and_reconciled_in_fils(client, settings):
    # given a deployment in Kuwaiti dinars (its connections say so, as settings make them)
    settings.MARKETPLACE_CURRENCY = "KWD"
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL marketplace.currency = 'KWD'")
    # and a product priced as a merchant types it, to the fils
    price = money_parse("12.345", "KWD")
    product = make_product(price_minor=price, commission_bps=1000, stock=3)
    assert money_format(price, "KWD") == "12.350 KWD"

    # when it is bought with two of it, paid, received and settled
    group = pay(client, place(UserFactory(), (product.variants.get(), 2)))
    order = ship_confirm_and_age(group.orders.get())
    assert settle_due() == 1

    # then Stripe was asked for an amount it accepts, exactly the order's total
    intent = stripe_request("get", f"/v1/payment_intents/{group.payment_intent_id}")
    assert (intent["currency"], intent["amount"]) == ("kwd", order.total_minor)
    assert intent["amount"] % 10 == 0
    # and the books are in KWD, balanced, with the split exact to the fils (fee 5% of 24.700)
    assert set(LedgerTransaction.objects.values_list("currency", flat=True)) == {"KWD"}
    assert ledger.balance_of(kind=Kind.PLATFORM_FEES) == 24_700 * 500 // 10_000
    assert Order.objects.get(pk=order.pk).status == "settled"
    assert reconcile().ok


@pytest.mark.django_db
def test_a_currency_change_on_a_live_database_is_refused(settings):
    # given books in CNY
    clearing, fees = ledger.account_get(kind=Kind.CLEARING), ledger.account_get(kind=Kind.PLATFORM_FEES)
    ledger.ledger_post(idempotency_key="cny-1", kind="adjustment", entries=[(clearing, -500), (fees, 500)])

    # when the deployment starts again with MARKETPLACE_CURRENCY=EUR (its connections say EUR)
    settings.MARKETPLACE_CURRENCY = "EUR"
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL marketplace.currency = 'EUR'")

    # then the check `migrate` runs refuses to start, naming both currencies
    errors = ledger_currency_check(databases=["default"])
    assert [e.id for e in errors] == ["payments.E001"]
    assert "MARKETPLACE_CURRENCY is EUR but the ledger" in errors[0].msg and "is in CNY" in errors[0].msg
    # the ledger says why before posting
    with pytest.raises(LedgerCurrencyMismatch, match="is in CNY but MARKETPLACE_CURRENCY is EUR"):
        ledger.account_get(kind=Kind.CLEARING)
    # and the database refuses euro amounts posted into the old accounts, whoever posts them
    with pytest.raises(IntegrityError, match="is in EUR but account"), transaction.atomic():
        ledger.ledger_post(idempotency_key="eur-1", kind="adjustment", entries=[(clearing, -300), (fees, 300)])
    postings = [ledger.Posting("eur-2", "adjustment", [(ledger.AccountRef(Kind.CLEARING), -1),
                                                       (ledger.AccountRef(Kind.REFUNDS), 1)])]  # fmt: skip
    with pytest.raises(IntegrityError, match="is in EUR but account"), transaction.atomic():
        ledger.ledger_post_many(postings)
    assert ledger.balance(fees) == 500
    assert LedgerEntry.objects.count() == 2


def _test_database_url() -> str:
    db = connection.settings_dict
    host = quote(db["HOST"] or "", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'] or '')}@{host}{port}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_migrate_refuses_to_start_a_database_with_postings_in_another_currency():
    clearing, fees = ledger.account_get(kind=Kind.CLEARING), ledger.account_get(kind=Kind.PLATFORM_FEES)
    ledger.ledger_post(idempotency_key="cny-1", kind="adjustment", entries=[(clearing, -500), (fees, 500)])
    url = _test_database_url()
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"} | {
        "DATABASE_URL": url, "MIGRATION_DATABASE_URL": url,
    }  # fmt: skip

    def migrate(currency: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "migrate", "--plan"],
            cwd=ROOT, env=env | {"MARKETPLACE_CURRENCY": currency}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    refused = migrate("EUR")
    assert refused.returncode != 0
    assert "payments.E001" in refused.stderr and "MARKETPLACE_CURRENCY is EUR" in refused.stderr
    # the same database in its own currency starts
    started = migrate("CNY")
    assert started.returncode == 0, started.stderr
