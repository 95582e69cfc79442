"""Money primitives: integer minor units, never floats.

An amount is an `int` of the currency's minor unit (fen, cents, fils). One currency per
deployment (settings.MARKETPLACE_CURRENCY); the exponent table says how many decimals
its major unit has.
"""

import re

from django.conf import settings

# ISO 4217 minor-unit exponents for the currencies a deployment may choose.
CURRENCY_EXPONENTS: dict[str, int] = {
    "CNY": 2, "USD": 2, "EUR": 2, "GBP": 2, "HKD": 2, "SGD": 2, "AUD": 2, "CAD": 2,
    "MYR": 2, "THB": 2, "PHP": 2, "INR": 2, "TWD": 2, "CHF": 2,
    "JPY": 0, "KRW": 0, "VND": 0, "IDR": 0, "CLP": 0,
    "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip

CURRENCY_SYMBOLS: dict[str, str] = {
    "CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "KRW": "₩", "HKD": "HK$",
}  # fmt: skip

# Larger than any real order, small enough for a PostgreSQL bigint with room for sums.
MAX_MINOR = 10**15

_AMOUNT_RE = re.compile(r"^(?P<int>\d{1,16})?(?:\.(?P<frac>\d*))?$")


class MoneyError(ValueError):
    """An amount a person typed that cannot be taken as money; the message says why."""


def currency_default() -> str:
    return settings.MARKETPLACE_CURRENCY


def currency_exponent(currency: str | None = None) -> int:
    code = (currency or currency_default()).upper()
    try:
        return CURRENCY_EXPONENTS[code]
    except KeyError:
        raise MoneyError(f"Unknown currency {code!r}.") from None


def money_parse(text: str, currency: str | None = None) -> int:
    """Parse what a person typed ("12.5", "¥1,299.00") into minor units (1250).

    Thousands separators and the currency's own symbol are allowed; a sign, an exponent,
    more decimals than the currency has, or anything else is refused with a message.
    """
    if not isinstance(text, str):
        raise MoneyError("Enter the amount as text, such as 12.50.")
    exponent = currency_exponent(currency)
    code = (currency or currency_default()).upper()
    cleaned = text.strip()
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol and cleaned.startswith(symbol):
        cleaned = cleaned[len(symbol) :].strip()
    if cleaned.upper().endswith(code):
        cleaned = cleaned[: -len(code)].strip()
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d*)?", cleaned):
        cleaned = cleaned.replace(",", "")
    if not cleaned:
        raise MoneyError("Enter an amount.")
    if cleaned.startswith("-"):
        raise MoneyError("The amount cannot be negative.")
    match = _AMOUNT_RE.match(cleaned)
    if not match or (match["int"] is None and not match["frac"]):
        raise MoneyError(f"{text.strip()!r} is not an amount. Use digits, such as 12.50.")
    frac = match["frac"] or ""
    if len(frac) > exponent:
        if exponent == 0:
            raise MoneyError(f"{code} amounts have no decimals.")
        raise MoneyError(f"{code} amounts have at most {exponent} decimals.")
    minor = int(match["int"] or "0") * 10**exponent + int((frac or "0").ljust(exponent, "0") or "0")
    if minor > MAX_MINOR:
        raise MoneyError("The amount is too large.")
    return minor


def money_to_decimal_str(minor: int, currency: str | None = None) -> str:
    """Minor units as a plain decimal string: 1250 -> "12.50" (for inputs and APIs)."""
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise TypeError("Money amounts are int minor units.")
    exponent = currency_exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exponent)
    return f"{sign}{whole}.{frac:0{exponent}d}" if exponent else f"{sign}{whole}"


def money_format(minor: int, currency: str | None = None) -> str:
    """Minor units for display: 129900 -> "¥1,299.00"."""
    code = (currency or currency_default()).upper()
    plain = money_to_decimal_str(minor, code)
    sign, digits = ("-", plain[1:]) if plain.startswith("-") else ("", plain)
    whole, _, frac = digits.partition(".")
    grouped = f"{int(whole):,}" + (f".{frac}" if frac else "")
    symbol = CURRENCY_SYMBOLS.get(code)
    return f"{sign}{symbol}{grouped}" if symbol else f"{sign}{grouped} {code}"


def bps_share(amount_minor: int, bps: int) -> int:
    """The share of `amount_minor` at `bps` basis points, rounded down.

    Rounding rule of the marketplace: fees and commissions round down to the minor unit;
    the remainder stays with the merchant, so parts never exceed the whole.
    """
    if amount_minor < 0 or not 0 <= bps <= 10_000:
        raise ValueError("bps_share takes a non-negative amount and 0..10000 bps.")
    return amount_minor * bps // 10_000
