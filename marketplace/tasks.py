from celery import shared_task
from django.utils import timezone


@shared_task
def ping_task(note: str = "") -> dict:
    """Answers with the worker's clock; /healthz?worker=1 uses it to prove a worker runs."""
    return {"pong": True, "note": note[:100], "at": timezone.now().isoformat()}
