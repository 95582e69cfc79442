"""Deadline sweepers. Each claims due ids with SKIP LOCKED, then calls a service that re-locks
and re-checks, so two beat instances apply each default outcome exactly once."""

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from disputes import services
from disputes.models import AfterSalesRequest, Dispute, Sanction

BATCH = 500


def _due_ids(queryset) -> list[int]:
    with transaction.atomic():
        return list(queryset.select_for_update(skip_locked=True).values_list("pk", flat=True)[:BATCH])


@shared_task
def after_sales_deadlines_task() -> int:
    ids = _due_ids(
        AfterSalesRequest.objects.filter(
            status__in=AfterSalesRequest.OPEN_STATUSES, deadline_at__lte=timezone.now()
        ).order_by("deadline_at")
    )
    return sum(services.after_sales_deadline_apply(request_id=pk) for pk in ids)


@shared_task
def disputes_fallback_task() -> int:
    ids = _due_ids(
        Dispute.objects.filter(
            status=Dispute.Status.OPEN, source=Dispute.Source.ESCALATION, decide_by__lte=timezone.now()
        ).order_by("decide_by")
    )
    return sum(services.dispute_fallback_apply(dispute_id=pk) for pk in ids)


@shared_task
def sanctions_expire_task() -> int:
    ids = _due_ids(Sanction.objects.filter(ended_at__isnull=True, ends_at__lte=timezone.now()).order_by("ends_at"))
    return sum(services.sanction_expire(sanction_id=pk) for pk in ids)
