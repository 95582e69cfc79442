"""Template filters loaded into every template (settings TEMPLATES builtins)."""

from django import template
from django.utils import timezone

from marketplace.money import money_format, money_to_decimal_str

register = template.Library()


@register.filter
def money(minor):
    """{{ product.price_minor|money }} -> ¥12.50"""
    if minor is None or minor == "":
        return ""
    return money_format(int(minor))


@register.filter
def money_plain(minor):
    """{{ product.price_minor|money_plain }} -> 12.50, for form inputs."""
    if minor is None or minor == "":
        return ""
    return money_to_decimal_str(int(minor))


@register.filter
def bps_percent(bps):
    """{{ 1250|bps_percent }} -> 12.5%"""
    return f"{int(bps) / 100:g}%"


@register.filter
def time_left(moment) -> str:
    """{{ request.deadline_at|time_left }} -> "1 day 5 h", "3 h 20 min", "12 min"; "overdue"
    once it has passed; "" without a deadline. Rounded down, so it never promises more time."""
    if not moment:
        return ""
    seconds = int((moment - timezone.now()).total_seconds())
    if seconds <= 0:
        return "overdue"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        return f"{days} day{'s' if days > 1 else ''}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min" if minutes else "less than a minute"
