from django.conf import settings


def marketplace(request):
    return {"MARKETPLACE_NAME": settings.MARKETPLACE_NAME, "CURRENCY": settings.MARKETPLACE_CURRENCY}
