from functools import cache

from django.conf import settings
from django.urls import reverse

NAV_NAMES = ("home", "search", "cart", "orders", "account", "account_login")


@cache
def _nav() -> dict[str, str]:
    # Reversed once per process: the base template links to these on every page.
    return {name: reverse(name) for name in NAV_NAMES}


def marketplace(request):
    return {
        "MARKETPLACE_NAME": settings.MARKETPLACE_NAME,
        "CURRENCY": settings.MARKETPLACE_CURRENCY,
        "NAV": _nav(),
    }
