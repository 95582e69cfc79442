"""Request and response rules that hold for every view."""

from django.http import JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control


class PrivateNoStoreMiddleware:
    """`Cache-Control: private, no-store` on every answer that may carry personal data.

    That is any answer to a signed-in user (session or API token: DRF puts the token's
    user on the request before the response comes back here), to a visitor with a session
    (a cart), and to any request that is not a GET (a login's token, a form's errors).
    A view that set Cache-Control itself keeps its own.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.has_header("Cache-Control"):
            return response
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if (
            (user is not None and user.is_authenticated)
            or (session is not None and session.accessed and not session.is_empty())
            or request.method not in ("GET", "HEAD")
        ):
            patch_cache_control(response, private=True, no_store=True)
        return response


NUL_MESSAGE = "The address contains a NUL character (%00), which no search or filter accepts. Remove it and try again."


class RejectNulBytesMiddleware:
    """400 for a NUL character in the query string.

    PostgreSQL text cannot hold NUL, so such a value reaching a query is a 500. Form bodies
    are Django's forms' (their fields refuse NUL beside the field) and JSON bodies the API
    serializers' (DRF's CharField refuses it); a NUL in the path matches no route (404).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        bad = [key for key, values in request.GET.lists() if "\x00" in key or any("\x00" in v for v in values)]
        if bad:
            if request.path.startswith("/api/"):
                # The API's one error format, naming each parameter that held the NUL.
                fields = {key.replace("\x00", ""): [NUL_MESSAGE] for key in bad}
                body = {"error": {"status": 400, "code": "invalid", "message": NUL_MESSAGE, "fields": fields}}
                return JsonResponse(body, status=400)
            return render(
                request, "marketplace/error.html", {"title": "Bad request", "message": NUL_MESSAGE}, status=400
            )
        return self.get_response(request)
