"""`manage.py check --deploy`: payments that anyone could steer."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def payments_test_mode_check(app_configs, **kwargs):
    errors = []
    if settings.STRIPE_WEBHOOK_SECRET == settings.STRIPE_LOCAL_WEBHOOK_SECRET:
        errors.append(
            checks.Error(
                "STRIPE_WEBHOOK_SECRET is the public local test secret: anyone can sign webhook events.",
                hint="Set STRIPE_WEBHOOK_SECRET to your own random value (a staging site too; "
                "the local Stripe then signs with it).",
                id="payments.E001",
            )
        )
    if settings.STRIPE_TEST_MODE and not settings.DEBUG and not settings.STAGING:
        errors.append(
            checks.Error(
                "Payments run in local test mode (no STRIPE_SECRET_KEY) outside DEBUG.",
                hint="Set STRIPE_SECRET_KEY, or declare a staging site with STAGING=true.",
                id="payments.E002",
            )
        )
    if settings.STRIPE_TEST_MODE and not settings.SITE_URL:
        errors.append(
            checks.Error(
                "SITE_URL is not set: the local Stripe has nowhere to deliver its webhooks.",
                hint="Set SITE_URL to this site's address, e.g. https://staging.example.com.",
                id="payments.E003",
            )
        )
    return errors
