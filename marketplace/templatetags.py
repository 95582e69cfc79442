"""Template filters loaded into every template (settings TEMPLATES builtins)."""

from django import template

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
