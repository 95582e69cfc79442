"""Money primitives: integer minor units, never floats.

An amount is an `int` of the currency's minor unit (fen, cents, fils). One currency per
deployment (settings.MARKETPLACE_CURRENCY); how many decimals its major unit has comes from
ISO 4217 itself: the `iso4217` package ships the official list (SIX's XML, dated in the
package version) with its minor-unit column, so a new or changed currency is a dependency
update, not an edit here.
"""

import re

from django.conf import settings
from iso4217 import Currency


def currency_exponent_iso(code: str) -> int | None:
    """ISO 4217 minor-unit exponent of `code`; None for an unknown code and for those without
    minor units (gold, SDR, the testing code)."""
    try:
        return Currency(code.upper()).exponent
    except (ValueError, AttributeError):
        return None


# Every ISO 4217 currency with minor units, by code.
CURRENCY_EXPONENTS: dict[str, int] = {c.code: c.exponent for c in Currency if c.exponent is not None}

# Stripe takes amounts of three-decimal currencies (BHD, JOD, KWD, OMR, TND) in thousandths
# but requires their last digit to be 0 for PaymentIntents, refunds and disputes, the
# integration rounding to the nearest ten (Stripe's "Supported currencies" guide).
THREE_DECIMAL_STEP = 10

# Currencies whose Stripe API unit is not their ISO minor unit: Stripe takes ISK, zero-decimal
# in ISO 4217, in hundredths for backwards compatibility. This marketplace does not convert.
STRIPE_UNIT_DIFFERS = frozenset({"ISK"})

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
    minor = money_round_for_stripe(
        int(match["int"] or "0") * 10**exponent + int((frac or "0").ljust(exponent, "0") or "0"), code
    )
    if minor > MAX_MINOR:
        raise MoneyError("The amount is too large.")
    return minor


def stripe_step(currency: str | None = None) -> int:
    """The step, in minor units, of the amounts Stripe charges and refunds in `currency`."""
    return THREE_DECIMAL_STEP if currency_exponent(currency) == 3 else 1


def money_round_for_stripe(minor: int, currency: str | None = None) -> int:
    """Round a non-negative amount to the nearest one Stripe accepts, halves up: 5.124 KWD is
    5.120, 5.125 KWD is 5.130; other currencies are unchanged."""
    step = stripe_step(currency)
    return (minor + step // 2) // step * step


def money_for_stripe(minor: int, currency: str | None = None) -> int:
    """The amount to send Stripe for a charge or a refund. Prices and refunds typed in are
    rounded by money_parse, so their sums are already on Stripe's step; one that is not is a
    bug, refused here rather than by Stripe after the ledger took it."""
    step = stripe_step(currency)
    if minor % step:
        code = (currency or currency_default()).upper()
        raise MoneyError(f"{code} amounts sent to Stripe end in 0 (in steps of {step}); {minor} does not.")
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
