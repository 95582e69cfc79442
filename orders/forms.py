from django import forms


class AddressForm(forms.Form):
    name = forms.CharField(max_length=80, label="Recipient name")
    phone = forms.CharField(
        max_length=32, label="Phone", widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"})
    )
    address = forms.CharField(
        max_length=300, label="Street address", widget=forms.TextInput(attrs={"autocomplete": "street-address"})
    )
    city = forms.CharField(
        max_length=80, label="City", widget=forms.TextInput(attrs={"autocomplete": "address-level2"})
    )
    postal_code = forms.CharField(
        max_length=16,
        required=False,
        label="Postal code",
        widget=forms.TextInput(attrs={"autocomplete": "postal-code"}),
    )
    idempotency_key = forms.CharField(max_length=64, widget=forms.HiddenInput)


class ShipForm(forms.Form):
    carrier = forms.CharField(max_length=60, label="Carrier", help_text="e.g. SF Express, ZTO, YTO")
    tracking_number = forms.CharField(max_length=60, label="Tracking number")
