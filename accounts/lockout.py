"""One lock for credentials: the login page, the token endpoint and the admin login.

All three check a password through allauth's adapter, so failed attempts are counted
together, per account and per real client IP (LOGIN_FAILED_RATE_LIMIT), and a locked
account gets in nowhere, not even with the right password, until the window passes.
"""

import math
import time

from allauth.account.adapter import get_adapter
from allauth.core.internal import ratelimit
from django.core.cache import cache
from django.core.exceptions import ValidationError

LOCKED_CODE = "too_many_login_attempts"


class LoginLocked(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"locked for {retry_after} s")
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        return f"Too many failed login attempts. Try again in {retry_after_words(self.retry_after)}."


def retry_after_words(seconds: int) -> str:
    if seconds <= 60:
        return f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def login_retry_after(request, *, email: str) -> int:
    """Seconds until the oldest counted failure leaves every limit it fills (at least 1)."""
    key = get_adapter(request)._get_login_attempts_cache_key(request, email=email)
    now = time.time()
    wait = 0.0
    for rate in ratelimit.get_rates(app="allauth.account", action="login_failed"):
        cache_key = ratelimit.get_cache_key(request, app="allauth.account", action="login_failed", rate=rate, key=key)
        # Newest first, as allauth stores it.
        history = [ts for ts in cache.get(cache_key, []) if ts > now - rate.duration]
        if len(history) >= rate.amount:
            wait = max(wait, history[rate.amount - 1] + rate.duration - now)
    return max(1, math.ceil(wait))


def credentials_authenticate(request, *, email: str, password: str):
    """The active user with this email and password, or None; LoginLocked when locked.

    `request` is Django's HttpRequest: the per-IP count reads its peer address.
    """
    try:
        return get_adapter(request).authenticate(request, email=email, password=password)
    except ValidationError as exc:
        if exc.code == LOCKED_CODE:
            raise LoginLocked(login_retry_after(request, email=email)) from None
        raise
