"""Forms for the review pages. They parse what was typed; the services check the rules, and
their messages go beside the field they name (fields are named like service arguments)."""

from django import forms

from disputes.forms import PhotosField
from reviews.models import Review
from reviews.services import MAX_TEXT

STARS = [(5, "5 ★"), (4, "4 ★"), (3, "3 ★"), (2, "2 ★"), (1, "1 ★")]


def _stars(label: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=STARS,
        coerce=int,
        widget=forms.RadioSelect(attrs={"class": "stars"}),
        error_messages={
            "required": f"{label}: choose 1 to 5 stars.",
            "invalid_choice": f"{label}: choose 1 to 5 stars, not %(value)s.",
        },
    )


def _text(label: str, *, required: bool = False, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=MAX_TEXT,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=help_text or f"Up to {MAX_TEXT:,} characters.",
        error_messages={"max_length": f"{label} is too long: at most {MAX_TEXT:,} characters."},
    )


class ReviewForm(forms.Form):
    stars = _stars("The item")
    score_described = _stars("Item as described")
    score_service = _stars("Service")
    score_shipping = _stars("Shipping speed")
    text = _text("Your review")
    photos = PhotosField(label="Photos")
    is_name_masked = forms.BooleanField(label="Show my name masked (like “A***”)", required=False)


class ReviewEditForm(forms.Form):
    stars = _stars("The item")
    score_described = _stars("Item as described")
    score_service = _stars("Service")
    score_shipping = _stars("Shipping speed")
    text = _text("Your review")


class FollowUpForm(forms.Form):
    text = _text("Your follow-up", required=True, help_text="How the item holds up after a while.")


class ReplyForm(forms.Form):
    text = _text("Your reply", required=True, help_text="Shown under the review, once: it cannot be changed.")
    to_follow_up = forms.BooleanField(required=False, widget=forms.HiddenInput)


class FoldForm(forms.Form):
    reason = forms.ChoiceField(label="Reason shown to everyone", choices=Review.FoldReason.choices)
    note = forms.CharField(label="Note for the record", max_length=500)


class UnfoldForm(forms.Form):
    note = forms.CharField(label="Note for the record", max_length=500)


class RewardReportForm(forms.Form):
    description = _text(
        "What the shop offered", required=True, help_text="For example a refund or a coupon for a 5-star review."
    )


class ReportCloseForm(forms.Form):
    confirmed = forms.BooleanField(label="Confirmed: the shop offered a reward", required=False)
    note = forms.CharField(label="Note for the record", max_length=500)
