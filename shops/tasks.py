from celery import shared_task

from shops import services


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def product_photo_render_task(photo_id: int) -> str:
    photo = services.product_photo_render(photo_id=photo_id)
    return photo.status if photo else "missing"


@shared_task
def product_photo_render_sweep_task() -> int:
    """Re-enqueue photos still pending after a few minutes (a lost message, a dead worker)."""
    from datetime import timedelta

    from django.utils import timezone

    from shops.models import ProductPhoto

    stale = ProductPhoto.objects.filter(
        status=ProductPhoto.Status.PENDING, created_at__lt=timezone.now() - timedelta(minutes=5)
    ).values_list("id", flat=True)[:500]
    ids = list(stale)
    for photo_id in ids:
        product_photo_render_task.delay(photo_id)
    return len(ids)
