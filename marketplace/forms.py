from django import forms

from marketplace.money import MoneyError, money_parse, money_to_decimal_str


class MoneyField(forms.CharField):
    """A price typed as "12.50"; cleans to int minor units. Never a float."""

    # Checked on the raw text: the cleaned value is an int, which length validators cannot take.
    max_text_length = 24

    def __init__(self, *, min_minor: int | None = 1, **kwargs):
        self.min_minor = min_minor
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("inputmode", "decimal")
        self.widget.attrs.setdefault("maxlength", str(self.max_text_length))

    def prepare_value(self, value):
        if isinstance(value, int):
            return money_to_decimal_str(value)
        return value

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        if len(value) > self.max_text_length:
            raise forms.ValidationError("That is not an amount: it is far too long.", code="money")
        try:
            minor = money_parse(value)
        except MoneyError as exc:
            raise forms.ValidationError(str(exc), code="money") from None
        if self.min_minor is not None and minor < self.min_minor:
            raise forms.ValidationError("The amount must be more than zero.", code="money_min")
        return minor


class PercentBpsField(forms.CharField):
    """A rate typed as a percentage ("12.5"); cleans to basis points (1250)."""

    def prepare_value(self, value):
        if isinstance(value, int):
            return f"{value / 100:g}"
        return value

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            # Two decimals of a percent are exactly one basis point.
            bps = money_parse(value.rstrip("%").strip(), "USD")
        except MoneyError:
            raise forms.ValidationError("Enter a percentage such as 10 or 12.5.", code="percent") from None
        return bps
