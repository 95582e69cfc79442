"""Staff alerts: opened once per subject, mailed to staff after commit, resolved by staff."""

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from payments.models import StaffAlert


def staff_alert_open(*, kind: str, subject_ref: str, title: str, detail: str = "") -> StaffAlert:
    """Open the alert (once: a second call for the same subject returns the first)."""
    alert, created = StaffAlert.objects.get_or_create(
        kind=kind, subject_ref=subject_ref[:120], defaults={"title": title[:200], "detail": detail}
    )
    if created:
        recipients = list(
            get_user_model().objects.filter(is_staff=True, is_active=True).values_list("email", flat=True)
        )
        if recipients:
            transaction.on_commit(
                lambda: send_mail(f"[Circle Market] {alert.title}", alert.detail, None, recipients, fail_silently=True)
            )
    return alert


def staff_alert_resolve(*, alert_id: int) -> StaffAlert:
    with transaction.atomic():
        alert = StaffAlert.objects.select_for_update().get(pk=alert_id)
        if alert.resolved_at is None:
            alert.resolved_at = timezone.now()
            alert.save(update_fields=["resolved_at"])
    return alert
