"""Forms for the after-sales pages and the staff console. They only parse what was typed
(amounts, dates, files); the services check the rules and their messages go beside the field
they name, so every field here is named like the service argument it feeds."""

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from disputes.models import AfterSalesRequest, Dispute, Sanction
from disputes.services import MAX_PHOTOS
from marketplace.forms import MoneyField
from shops.forms import MultipleFileInput

PHOTO_TYPES = "image/jpeg,image/png,image/webp,image/heic,image/heif"


class PhotosField(forms.FileField):
    """Up to MAX_PHOTOS files from one input; cleans to a list (empty when none)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": PHOTO_TYPES}))
        kwargs.setdefault(
            "help_text", f"Up to {MAX_PHOTOS} photos: JPEG, PNG, WebP or HEIC. A form sent back needs them again."
        )
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(PhotosField, self).clean(upload, initial) for upload in files]


def _text(label: str, *, rows: int = 3, max_length: int = 600, **kwargs) -> forms.CharField:
    return forms.CharField(
        label=label, max_length=max_length, widget=forms.Textarea(attrs={"rows": rows}), strip=True, **kwargs
    )


class AfterSalesOpenForm(forms.Form):
    kind = forms.ChoiceField(label="What you want", choices=AfterSalesRequest.Kind.choices, widget=forms.RadioSelect)
    reason = forms.ChoiceField(label="Reason", choices=[("", "Choose a reason"), *AfterSalesRequest.Reason.choices])
    amount_minor = MoneyField(label="Amount to refund", help_text="At most what you paid for the order.")
    description = _text("What happened", rows=4, max_length=2000, help_text="At least 10 characters.")
    photos = PhotosField(label="Photos")


class AcceptForm(forms.Form):
    return_address = forms.CharField(
        label="Return address", max_length=300, required=False, help_text="Where the buyer sends the item back."
    )


class ProposeForm(forms.Form):
    amount_minor = MoneyField(label="Refund you offer", help_text="Less than the amount asked for.")
    note = _text("Note to the buyer")


class RejectForm(forms.Form):
    note = _text("Why you reject the request", help_text="At least 10 characters; the buyer and staff read it.")
    photos = PhotosField(label="Photos for your side")


class EscalateForm(forms.Form):
    note = _text("Why Circle Market should step in", help_text="At least 10 characters.")


class ReturnShipForm(forms.Form):
    carrier = forms.CharField(label="Carrier", max_length=60, help_text="e.g. SF Express, ZTO, YTO")
    tracking_number = forms.CharField(label="Return tracking number", max_length=60)


class MessageForm(forms.Form):
    body = _text("Message", max_length=2000)
    photos = PhotosField(label="Photos")


class RulingForm(forms.Form):
    outcome = forms.ChoiceField(
        label="Ruling",
        choices=[
            (Dispute.Outcome.FULL_REFUND, "Full refund of the amount asked"),
            (Dispute.Outcome.PARTIAL_REFUND, "Partial refund"),
            (Dispute.Outcome.RELEASE, "Release the payment to the shop"),
        ],
        widget=forms.RadioSelect,
    )
    amount_minor = MoneyField(label="Partial refund amount", required=False, help_text="Only for a partial refund.")
    reason = _text("Written reason", rows=4, max_length=2000, help_text="Both sides read it. At least 10 characters.")


class SanctionForm(forms.Form):
    kind = forms.ChoiceField(label="Sanction", choices=Sanction.Kind.choices)
    reason = _text("Public reason", max_length=500, help_text="Shown on the shop's page. At least 10 characters.")
    ends_at = forms.DateField(
        label="Last day", widget=forms.DateInput(attrs={"type": "date"}), help_text="It ends at midnight after it."
    )

    def clean_ends_at(self):
        day = self.cleaned_data["ends_at"]
        return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))
