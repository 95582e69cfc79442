"""Order timers: beat sweepers that claim due rows with SKIP LOCKED (safe with two beats)."""

from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from orders import services
from orders.models import Order, OrderGroup
from payments import services as payment_services

BATCH = 500


def _due_ids(queryset) -> list[int]:
    with transaction.atomic():
        return list(queryset.select_for_update(skip_locked=True).values_list("pk", flat=True)[:BATCH])


@shared_task
def order_groups_expire_task() -> int:
    ids = _due_ids(OrderGroup.objects.filter(status=OrderGroup.Status.PENDING_PAYMENT, pay_by__lte=timezone.now()))
    return sum(payment_services.order_group_expire(group_id=pk) for pk in ids)


@shared_task
def orders_auto_confirm_task() -> int:
    ids = _due_ids(
        Order.objects.filter(status=Order.Status.SHIPPED, is_held=False, auto_confirm_at__lte=timezone.now())
    )
    done = 0
    for pk in ids:
        try:
            services.order_confirm_receipt(order_id=pk)
            done += 1
        except services.ConflictError:
            continue
    return done


@shared_task
def orders_ship_deadline_task() -> dict:
    now = timezone.now()
    remind = _due_ids(
        Order.objects.filter(
            status=Order.Status.PAID,
            is_held=False,
            ship_reminder_sent_at__isnull=True,
            ship_by__lte=now + timedelta(days=1),
        )
    )
    reminded = sum(services.order_ship_reminder(order_id=pk) for pk in remind)
    overdue = _due_ids(
        Order.objects.filter(status=Order.Status.PAID, is_held=False, ship_by__lte=now - services.SHIP_GRACE)
    )
    cancelled = sum(payment_services.order_cancel_unshipped(order_id=pk) for pk in overdue)
    return {"reminded": reminded, "cancelled": cancelled}
