"""System checks run by `migrate` (so by `make run` and docker compose's migrate) and by
`manage.py check --database default`; and the deploy checks of `check --deploy`."""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import connections


@register(Tags.database)
def ledger_currency_check(app_configs=None, databases=None, **kwargs) -> list[Error]:
    """MARKETPLACE_CURRENCY must be the currency of the ledger already in the database: read
    in another currency, every old amount would be wrong and new ones would mix with them.
    The database refuses such postings too (migration 0010); this says so before starting."""
    errors = []
    for alias in databases or []:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT to_regclass('payments_ledgeraccount') IS NOT NULL")
            if not cursor.fetchone()[0]:
                continue
            # The first and the last account, by index: every account has the one currency.
            cursor.execute(
                "(SELECT currency FROM payments_ledgeraccount ORDER BY id LIMIT 1) UNION "
                "(SELECT currency FROM payments_ledgeraccount ORDER BY id DESC LIMIT 1)"
            )
            found = sorted(row[0] for row in cursor.fetchall())
        if found and found != [settings.MARKETPLACE_CURRENCY]:
            errors.append(
                Error(
                    f"MARKETPLACE_CURRENCY is {settings.MARKETPLACE_CURRENCY} but the ledger of database "
                    f"{alias!r} is in {', '.join(found)}.",
                    hint=f"Keep MARKETPLACE_CURRENCY={found[0]}: amounts already posted are {found[0]} minor "
                    "units. A marketplace in another currency needs its own database.",
                    id="payments.E001",
                )
            )
    return errors


@register(Tags.security, deploy=True)
def payments_test_mode_check(app_configs, **kwargs):
    errors = []
    if settings.STRIPE_WEBHOOK_SECRET == settings.STRIPE_LOCAL_WEBHOOK_SECRET:
        errors.append(
            Error(
                "STRIPE_WEBHOOK_SECRET is the public local test secret: anyone can sign webhook events.",
                hint="Set STRIPE_WEBHOOK_SECRET to your own random value (a staging site too; "
                "the local Stripe then signs with it).",
                id="payments.E010",
            )
        )
    if settings.STRIPE_TEST_MODE and not settings.DEBUG and not settings.STAGING:
        errors.append(
            Error(
                "Payments run in local test mode (no STRIPE_SECRET_KEY) outside DEBUG.",
                hint="Set STRIPE_SECRET_KEY, or declare a staging site with STAGING=true.",
                id="payments.E011",
            )
        )
    if settings.STRIPE_TEST_MODE and not settings.SITE_URL:
        errors.append(
            Error(
                "SITE_URL is not set: the local Stripe has nowhere to deliver its webhooks.",
                hint="Set SITE_URL to this site's address, e.g. https://staging.example.com.",
                id="payments.E012",
            )
        )
    return errors
