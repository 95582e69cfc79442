from django import forms
from django.conf import settings

from marketplace.forms import MoneyField, PercentBpsField
from shops.models import Category, Shop


class ShopForm(forms.Form):
    name = forms.CharField(max_length=80)
    slug = forms.SlugField(
        max_length=60, required=False, help_text="Your shop's address: /s/<this>/. Letters, digits and hyphens."
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000)
    contact = forms.CharField(max_length=200, required=False)
    return_policy = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000)
    shipping_regions = forms.CharField(max_length=300, required=False)
    shipping_fee_minor = MoneyField(label="Shipping fee per order", min_minor=0, required=False)
    logo = forms.FileField(required=False, help_text="JPEG, PNG, WebP or HEIC.")

    def __init__(self, *args, shop: Shop | None = None, **kwargs):
        self.shop = shop
        super().__init__(*args, **kwargs)
        if shop is not None:
            del self.fields["slug"]

    def clean_slug(self):
        slug = self.cleaned_data.get("slug", "")
        if slug and Shop.objects.filter(slug=slug).exists():
            raise forms.ValidationError("That shop address is taken. Choose another.")
        return slug

    def clean_shipping_fee_minor(self):
        return self.cleaned_data.get("shipping_fee_minor") or 0


def _commission_help() -> str:
    low, high = settings.MARKETPLACE_COMMISSION_MIN_BPS, settings.MARKETPLACE_COMMISSION_MAX_BPS
    return f"What a sharer earns on each sale through their link: {low / 100:g}%–{high / 100:g}%."


class ProductForm(forms.Form):
    title = forms.CharField(max_length=120)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=10_000)
    category = forms.ModelChoiceField(queryset=Category.objects.all(), required=False)
    price_minor = MoneyField(label="Price")
    compare_at_price_minor = MoneyField(label="Compare-at price", required=False, help_text="Optional: the old price.")
    commission_bps = PercentBpsField(label="Commission for sharers (%)", help_text=_commission_help)
    is_no_reason_return = forms.BooleanField(
        label="7-day no-reason return",
        required=False,
        initial=True,
        help_text="Turn off for custom or perishable goods.",
    )
    weight_grams = forms.IntegerField(min_value=0, max_value=1_000_000, required=False, initial=0)
    stock = forms.IntegerField(min_value=0, max_value=10_000_000, initial=1, help_text="Units you can ship now.")

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            # Stock lives on variants once a product exists.
            del self.fields["stock"]

    def clean_commission_bps(self):
        bps = self.cleaned_data["commission_bps"]
        low, high = settings.MARKETPLACE_COMMISSION_MIN_BPS, settings.MARKETPLACE_COMMISSION_MAX_BPS
        if bps is None or not low <= bps <= high:
            raise forms.ValidationError(f"The commission rate must be between {low / 100:g}% and {high / 100:g}%.")
        return bps

    def clean(self):
        data = super().clean()
        price, compare_at = data.get("price_minor"), data.get("compare_at_price_minor")
        if price and compare_at is not None and compare_at <= price:
            self.add_error("compare_at_price_minor", "The compare-at price must be higher than the price.")
        data["weight_grams"] = data.get("weight_grams") or 0
        return data


class VariantForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="e.g. Red / M")
    sku = forms.CharField(max_length=64, label="SKU")
    price_minor = MoneyField(label="Price")
    stock = forms.IntegerField(min_value=0, max_value=10_000_000)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotoUploadForm(forms.Form):
    photos = forms.FileField(
        widget=MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp,image/heic,image/heif"}),
        help_text="Up to 20 photos per product: JPEG, PNG, WebP or HEIC.",
    )
