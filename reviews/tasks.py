from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from reviews import services
from reviews.models import ReviewPhoto


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def review_photo_render_task(photo_id: int) -> str:
    photo = services.review_photo_render(photo_id=photo_id)
    return photo.status if photo else "missing"


@shared_task
def review_photo_render_sweep_task() -> int:
    """Re-enqueue photos still pending after a few minutes (a lost message, a dead worker)."""
    ids = list(
        ReviewPhoto.objects.filter(
            status=ReviewPhoto.Status.PENDING, created_at__lt=timezone.now() - timedelta(minutes=5)
        ).values_list("id", flat=True)[:500]
    )
    for photo_id in ids:
        review_photo_render_task.delay(photo_id)
    return len(ids)


@shared_task(acks_late=True)
def shop_credit_evaluate_task() -> int:
    """Beat, daily: this month's levels and badges for every shop, once (later runs of the
    month write nothing)."""
    return services.shop_credit_evaluate().written
