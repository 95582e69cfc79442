"""Helpers the apps' views share: the merchant and staff guards and the share visitor's cookie."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect

from shops.models import Shop

# The anonymous visitor id a share link sets; checkout reads the attribution by it.
VISITOR_COOKIE = "cm_vid"


def merchant_required(view):
    """Loads request.shop from the signed-in user; users without a shop go open one."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        shop = Shop.objects.filter(owner=request.user).first()
        if shop is None:
            messages.info(request, "Open a shop first.")
            return redirect("shop_open")
        request.shop = shop
        return view(request, *args, **kwargs)

    return wrapper


def staff_required(view):
    """The staff console is invisible to everyone but staff: a 404, not a login page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not (request.user.is_authenticated and request.user.is_staff):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper
