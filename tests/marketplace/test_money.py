import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.money import (
    CURRENCY_EXPONENTS,
    MAX_MINOR,
    MoneyError,
    bps_share,
    money_format,
    money_parse,
    money_to_decimal_str,
    stripe_step,
)

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
amounts = st.integers(min_value=0, max_value=MAX_MINOR)


@given(minor=amounts, currency=currencies)
def test_decimal_string_round_trips_exactly(minor, currency):
    # given an amount in minor units that Stripe can charge (three-decimal ones end in 0)
    minor -= minor % stripe_step(currency)
    # when it is written out and parsed back
    text = money_to_decimal_str(minor, currency)
    # then the same integer comes back, and the text never went through a float
    assert money_parse(text, currency) == minor
    assert type(money_parse(text, currency)) is int


@given(minor=amounts, currency=currencies)
def test_display_format_parses_back(minor, currency):
    minor -= minor % stripe_step(currency)
    assert money_parse(money_format(minor, currency), currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("12.5", "CNY", 1250),
        ("12.50", "CNY", 1250),
        ("0.01", "USD", 1),
        (".5", "USD", 50),
        ("12.", "USD", 1200),
        ("1,299.00", "CNY", 129900),
        ("¥1,299", "CNY", 129900),
        ("  7 ", "CNY", 700),
        ("1500", "JPY", 1500),
        ("1.234", "KWD", 1230),
        ("12.5 CNY", "CNY", 1250),
    ],
)
def test_it_parses_what_people_type(text, currency, expected):
    assert money_parse(text, currency) == expected


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("", "CNY", "Enter an amount."),
        ("   ", "CNY", "Enter an amount."),
        ("-5", "CNY", "The amount cannot be negative."),
        ("12.345", "CNY", "CNY amounts have at most 2 decimals."),
        ("12.5", "JPY", "JPY amounts have no decimals."),
        ("1.2345", "KWD", "KWD amounts have at most 3 decimals."),
        ("abc", "CNY", "'abc' is not an amount. Use digits, such as 12.50."),
        ("1e3", "CNY", "'1e3' is not an amount. Use digits, such as 12.50."),
        ("NaN", "CNY", "'NaN' is not an amount. Use digits, such as 12.50."),
        ("1,2,3", "CNY", "'1,2,3' is not an amount. Use digits, such as 12.50."),
        (".", "CNY", "'.' is not an amount. Use digits, such as 12.50."),
        ("99999999999999999", "CNY", "'99999999999999999' is not an amount. Use digits, such as 12.50."),
        ("9999999999999999", "CNY", "The amount is too large."),
    ],
)
def test_it_refuses_bad_input_with_a_message(text, currency, message):
    with pytest.raises(MoneyError) as caught:
        money_parse(text, currency)
    assert str(caught.value) == message


@given(junk=st.text(max_size=30))
def test_arbitrary_text_is_an_int_or_a_money_error(junk):
    # then nothing but int or MoneyError ever comes out (no float, no other exception)
    try:
        result = money_parse(junk, "CNY")
    except MoneyError:
        return
    assert type(result) is int and result >= 0


def test_floats_are_refused():
    with pytest.raises(MoneyError):
        money_parse(12.5, "CNY")
    with pytest.raises(TypeError):
        money_to_decimal_str(12.5, "CNY")


def test_unknown_currency_is_refused():
    with pytest.raises(MoneyError, match="Unknown currency 'XYZ'"):
        money_parse("1", "XYZ")


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (129900, "CNY", "¥1,299.00"),
        (5, "USD", "$0.05"),
        (1500, "JPY", "¥1,500"),
        (1234, "KWD", "1.234 KWD"),
        (-250, "EUR", "-€2.50"),
    ],
)
def test_it_formats_for_display(minor, currency, shown):
    assert money_format(minor, currency) == shown


@given(amount=amounts, bps=st.integers(min_value=0, max_value=10_000))
def test_bps_share_rounds_down_and_never_exceeds_the_whole(amount, bps):
    share = bps_share(amount, bps)
    assert 0 <= share <= amount
    # rounding down: the exact share is within one minor unit above
    assert share * 10_000 <= amount * bps < (share + 1) * 10_000


def test_bps_share_control_rounds_down_not_half_up():
    # control: 999 at 50% is 499.5; half-up would give 500
    assert bps_share(999, 5000) == 499
