"""API building blocks: pagination, one error format, owner scoping."""

import re

from django.core.exceptions import PermissionDenied
from django.http import Http404, QueryDict
from rest_framework import exceptions, pagination, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from marketplace.errors import DomainError
from marketplace.money import MAX_MINOR, MoneyError, currency_exponent, money_parse, money_to_decimal_str

# Deeper than any person pages; keeps OFFSET within what PostgreSQL takes as a bigint.
MAX_OFFSET = 1_000_000


def _query_int(request, name: str, *, minimum: int, maximum: int) -> int | None:
    """A whole-number query parameter, or None when absent. Anything else is a 400: DRF's
    paginators silently fall back to their default, so `page_size=null` looked accepted."""
    if name not in request.query_params:
        return None
    raw = request.query_params[name]
    if not raw.isascii() or not raw.isdigit() or not minimum <= int(raw) <= maximum:
        raise serializers.ValidationError({name: [f"Send a whole number from {minimum} to {maximum}."]})
    return int(raw)


class CursorPagination(pagination.CursorPagination):
    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        return _query_int(request, self.page_size_query_param, minimum=1, maximum=self.max_page_size) or self.page_size

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


class OffsetPagination(pagination.LimitOffsetPagination):
    default_limit = 20
    max_limit = 100

    def get_limit(self, request):
        limit = _query_int(request, self.limit_query_param, minimum=1, maximum=self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request):
        return _query_int(request, self.offset_query_param, minimum=0, maximum=MAX_OFFSET) or 0

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, MAX_OFFSET)}
        for parameter in parameters:
            low, high = bounds[parameter["name"]]
            parameter["schema"].update(minimum=low, maximum=high)
        return parameters


class OffsetQuerySerializer(serializers.Serializer):
    """OffsetPagination's parameters, for views that paginate by hand."""

    limit = serializers.IntegerField(required=False, min_value=1, max_value=OffsetPagination.max_limit)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=MAX_OFFSET)


def _flatten(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(d) for d in detail if d)
    if isinstance(detail, dict):
        # A list's errors are keyed by position: people count from 1.
        return " ".join(f"{f'Item {k + 1}' if isinstance(k, int) else k}: {_flatten(v)}" for k, v in detail.items())
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
        # Nested input (a list of items) has nested errors: each becomes one readable line; a
        # message two rules share (a length and a pattern) is said once.
        body["fields"] = {
            k: list(dict.fromkeys(_flatten(m) for m in (v if isinstance(v, list) else [v]) if m))
            for k, v in detail.items()
        }
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


def money_pattern(*, signed: bool = False, positive: bool = False, blank: bool = False) -> str:
    """An amount as the API writes and reads it, for the deployment's currency: digits without
    leading zeros, the currency's decimals at most, below MAX_MINOR; `positive` leaves out zero,
    `blank` admits the empty string (a query parameter left empty)."""
    exponent = currency_exponent()
    nonzero = rf"[1-9][0-9]{{0,{len(str(MAX_MINOR // 10**exponent)) - 2}}}"
    decimals = rf"(?:\.[0-9]{{1,{exponent}}})?" if exponent else ""
    amount = rf"{nonzero}{decimals}"
    if not positive:
        amount = rf"(?:0|{nonzero}){decimals}"
    elif exponent:
        # Zero whole units: some decimal must be non-zero ("0.05", "0.5", not "0.00").
        fractions = "|".join(rf"0{{{i}}}[1-9][0-9]{{0,{exponent - 1 - i}}}" for i in range(exponent))
        amount = rf"(?:{amount}|0\.(?:{fractions}))"
    if blank:
        return rf"^(?:{'-?' if signed else ''}{amount})?$"
    return rf"^{'-?' if signed else ''}{amount}$"


class MoneyField(serializers.Field):
    """An amount as a decimal string ("12.50") in and out; services get int minor units.

    Strings, not JSON numbers, so no client ever sends money through a float.
    """

    default_error_messages = {"min": "The amount must be at least {min}."}

    def __init__(self, *, min_minor: int | None = 1, blank_is_absent: bool = False, **kwargs):
        self.min_minor = min_minor
        # In a query string DRF takes an empty optional value as absent ("?min_price=").
        self.blank_is_absent = blank_is_absent
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        # The schema says string: a JSON number (a float on many clients) is refused, not guessed.
        if not isinstance(data, str):
            raise serializers.ValidationError('Send the amount as a string, such as "12.50".')
        try:
            minor = money_parse(data)
        except MoneyError as exc:
            raise serializers.ValidationError(str(exc)) from None
        if self.min_minor is not None and minor < self.min_minor:
            raise serializers.ValidationError(
                "The amount must be more than zero." if self.min_minor == 1 else "The amount is too small."
            )
        # What pages forgive ("¥1,299", spaces) the API refuses: it takes what its schema says.
        if not re.fullmatch(money_pattern(positive=bool(self.min_minor)), data):
            raise serializers.ValidationError('Send the amount as plain digits, such as "12.50".')
        return minor

    def to_representation(self, value):
        return money_to_decimal_str(int(value))


# --- JSON types as the schema states them -------------------------------------------------
# DRF converts loosely (2 for "2", "1" for 1, "yes" for true) because forms and query strings
# carry only text. A JSON body carries types, and the schema promises them: there a string
# where a number is due, or a number where text is due, is a 400 like any other wrong input.
# Patched once here (every API module imports this one) so that every serializer, present
# and future, keeps the schema's word; forms and query strings keep DRF's conversions.


def _reads_json(field) -> bool:
    data = getattr(field.root, "initial_data", None)
    return data is not None and not isinstance(data, QueryDict)


def _strict_json_type(field_class, accepts, error: str) -> None:
    convert = field_class.to_internal_value

    def to_internal_value(self, data):
        if _reads_json(self) and not accepts(data):
            self.fail(error, data_type=type(data).__name__)
        return convert(self, data)

    field_class.to_internal_value = to_internal_value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_strict_json_type(serializers.CharField, lambda v: isinstance(v, str), "invalid")
_strict_json_type(serializers.IntegerField, _is_int, "invalid")
_strict_json_type(serializers.BooleanField, lambda v: isinstance(v, bool), "invalid")
_strict_json_type(serializers.PrimaryKeyRelatedField, _is_int, "incorrect_type")
