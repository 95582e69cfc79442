"""API building blocks: pagination, one error format, owner scoping."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, pagination, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from marketplace.errors import DomainError
from marketplace.money import MoneyError, money_parse, money_to_decimal_str


class CursorPagination(pagination.CursorPagination):
    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 100


def _flatten(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(d) for d in detail)
    if isinstance(detail, dict):
        return " ".join(f"{k}: {_flatten(v)}" for k, v in detail.items())
    return str(detail)


def exception_handler(exc, context):
    """Every API error looks like {"error": {"status", "code", "message", "fields"?}}.

    `message` is one sentence a person can read; `fields` maps input names to their
    problems for a form to show next to each input.
    """
    if isinstance(exc, DomainError):
        exc = _DomainAPIException(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    body: dict = {"status": response.status_code}
    if isinstance(exc, exceptions.ValidationError):
        body["code"] = "invalid"
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body["fields"] = {k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
        body["message"] = "Some of the input is not valid: " + _flatten(detail)
    elif isinstance(exc, Http404):
        body["code"] = "not_found"
        body["message"] = "Not found."
    elif isinstance(exc, PermissionDenied):
        body["code"] = "permission_denied"
        body["message"] = "You do not have permission to do this."
    else:
        body["code"] = getattr(exc, "default_code", "error")
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
        if isinstance(codes, str):
            body["code"] = codes
        body["message"] = _flatten(getattr(exc, "detail", str(exc)))
    if isinstance(exc, _DomainAPIException) and exc.field:
        body["fields"] = {exc.field: [body["message"]]}
    return Response({"error": body}, status=response.status_code, headers=response.headers)


class _DomainAPIException(exceptions.APIException):
    def __init__(self, error: DomainError):
        self.status_code = error.status_code
        self.field = error.field
        super().__init__(detail=error.message, code=error.code)


class OwnerScopedMixin:
    """Limits a view's queryset to rows the requesting user owns.

    `owner_lookup` is the ORM path from the model to its owning user (e.g. "shop__owner").
    Another owner's id is simply absent from the queryset, so it answers 404, not 403:
    an id that exists is not revealed.
    """

    owner_lookup = "owner"

    def get_queryset(self):
        queryset = super().get_queryset()
        user = self.request.user
        if not user.is_authenticated:
            return queryset.none()
        return queryset.filter(**{self.owner_lookup: user})


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^\d+(\.\d+)?$",
        "example": "12.50",
        "description": "Amount in the marketplace currency.",
    }
)
class MoneyField(serializers.Field):
    """An amount as a decimal string ("12.50") in and out; services get int minor units.

    Strings, not JSON numbers, so no client ever sends money through a float.
    """

    default_error_messages = {"min": "The amount must be at least {min}."}

    def __init__(self, *, min_minor: int | None = 1, **kwargs):
        self.min_minor = min_minor
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            raise serializers.ValidationError('Send the amount as a string, such as "12.50".')
        try:
            minor = money_parse(str(data))
        except MoneyError as exc:
            raise serializers.ValidationError(str(exc)) from None
        if self.min_minor is not None and minor < self.min_minor:
            raise serializers.ValidationError(
                "The amount must be more than zero." if self.min_minor == 1 else "The amount is too small."
            )
        return minor

    def to_representation(self, value):
        return money_to_decimal_str(int(value))
