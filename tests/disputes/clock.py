"""A controlled clock for deadline tests: django.utils.timezone.now frozen, moved by hand."""

from datetime import timedelta

from django.utils import timezone


class Clock:
    def __init__(self, now):
        self.now = now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def clock_freeze(monkeypatch) -> Clock:
    """Freeze timezone.now at the real time now; every reader (services, sweepers, auto_now
    fields, every thread) sees the clock's time until the test moves it."""
    clock = Clock(timezone.now())
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock
