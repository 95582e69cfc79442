"""The OpenAPI schema: every operation lists the error answers it can give, in the one format.

drf-spectacular documents the success answers from the views' serializers; the errors come
from the exception handler (`marketplace.api.exception_handler`), which no view declares. The
schema class below adds them from what the view is made of, so a new operation is described
truthfully without repeating the list on every view:

- 400 when the operation takes input (a body, query parameters, a cursor);
- 401 only when the view's first authenticator answers 401 (DRF answers 403 otherwise);
- 403 when its permissions are more than AllowAny;
- 404 when it has path parameters, paginates (an unknown cursor), or needs a signed-in
  user (merchant endpoints without a shop, objects of another owner);
- 409 on writes (a state that no longer allows them), 415 for a body of another media type;
- 429 when the view throttles.

A view declares anything else (checkout's 502, a richer 409) with `extend_schema(responses=...)`;
what it declares wins.

Inputs are described as the server checks them: plain text as a pattern of its trimmed length
(see text_pattern), money as a string pattern for the deployment's currency, nested lists with
their bounds, and bodies as JSON unless the view reads uploads.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import permissions, serializers
from rest_framework.settings import api_settings

from marketplace.api import MoneyField, money_pattern

_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField(help_text="The HTTP status, repeated.")
    code = serializers.CharField(help_text='A stable word for programs: "invalid", "not_found", "conflict"...')
    message = serializers.CharField(help_text="One sentence a person can read.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Input name to its problems, for a form to show next to each input.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_DESCRIPTIONS = {
    "400": "The input is not valid; `fields` says which and why.",
    "401": "No valid credentials.",
    "403": "Not signed in, or not allowed to do this.",
    "404": "Not found, or not the caller's.",
    "409": "The object's state does not allow this now.",
    "415": "The body is not of a media type this operation reads.",
    "429": "Too many requests; retry after the time in `Retry-After`.",
}


class AutoSchema(SpectacularAutoSchema):
    def map_parsers(self):
        # Bodies are JSON unless a view chose its parsers (uploads): DRF's default form parsers
        # would have the schema promise nested input (a list of items) as form fields.
        if list(self.view.parser_classes) == list(api_settings.DEFAULT_PARSER_CLASSES):
            return ["application/json"]
        return super().map_parsers()

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if isinstance(field, MoneyField):
            schema = {
                "type": "string",
                "pattern": money_pattern(
                    signed=direction == "response" and field.min_minor is None,
                    positive=direction == "request" and bool(field.min_minor),
                    blank=field.blank_is_absent,
                ),
                "example": "12.50",
                "description": str(field.help_text or "An amount in the marketplace currency, as a string."),
            }
            if field.allow_null:
                schema["nullable"] = True
            return schema
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and isinstance(field, serializers.ListSerializer):
            # Nested lists: drf-spectacular leaves out their bounds.
            if not field.allow_empty:
                schema["minItems"] = max(schema.get("minItems", 0), 1)
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
            if field.min_length is not None:
                schema["minItems"] = max(schema.get("minItems", 0), field.min_length)
        # Plain text input: state DRF's whole rule (see text_pattern). Subclasses with a format
        # or a pattern of their own (email, slug, choices) keep theirs.
        if direction == "request" and type(field) is serializers.CharField and schema.get("type") == "string":
            schema.pop("minLength", None)
            schema.pop("maxLength", None)
            schema["pattern"] = _text_pattern_of(field)
        return schema

    def _insert_field_validators(self, field, schema):
        # A plain text input's pattern (from _map_serializer_field) already holds its length and
        # blank rules; DRF's validators would add raw-length bounds that say something else.
        if type(field) is serializers.CharField and schema.get("pattern") == _text_pattern_of(field):
            return
        super()._insert_field_validators(field, schema)

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in self._error_statuses(operation):
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code)
                response["description"] = _DESCRIPTIONS[code]
                responses[code] = response
        return operation

    def _error_statuses(self, operation: dict) -> list[str]:
        view, method = self.view, self.method
        takes_body = method in _UNSAFE and "requestBody" in operation
        paginated = self._is_list_view() and self._get_paginator() is not None
        query_params = any(p.get("in") == "query" for p in operation.get("parameters", []))
        path_params = any(p.get("in") == "path" for p in operation.get("parameters", []))
        authenticators = view.get_authenticators()
        open_to_all = all(isinstance(p, permissions.AllowAny) for p in view.get_permissions())
        codes = []
        if takes_body or query_params or paginated:
            codes.append("400")
        if authenticators and authenticators[0].authenticate_header(None) and not open_to_all:
            codes.append("401")
        if not open_to_all:
            codes.append("403")
        if path_params or paginated or not open_to_all:
            codes.append("404")
        if method in _UNSAFE and not open_to_all:
            codes.append("409")
        if takes_body:
            codes.append("415")
        if view.get_throttles():
            codes.append("429")
        return codes


# What Python's str.strip() removes (DRF trims with it), spelled for a JSON Schema pattern.
_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_SOLID = r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00]"
_ANY = r"[^\x00]"


def _repeat(low: int, high: int | None) -> str:
    return f"{{{max(low, 0)},{'' if high is None else max(high, 0)}}}"


def _text_pattern_of(field: serializers.CharField) -> str:
    return text_pattern(
        min_length=field.min_length,
        max_length=field.max_length,
        trim=field.trim_whitespace,
        allow_blank=field.allow_blank,
    )


def text_pattern(*, min_length: int | None, max_length: int | None, trim: bool, allow_blank: bool) -> str:
    """The exact rule of a DRF CharField as a pattern: DRF refuses NUL, trims (with Python's
    notion of white space) and only then counts the length, which `minLength`/`maxLength` on
    the raw string cannot say ("          x" is 11 characters long and refused)."""
    low, high = max(min_length or 0, 1), max_length
    if not trim:
        return f"^{_ANY}{_repeat(0 if allow_blank else low, high)}$"
    if high is not None and high < 1:
        return f"^{_SPACE}*$"
    if low <= 1:
        inner = f"{_SOLID}(?:{_ANY}{_repeat(0, None if high is None else high - 2)}{_SOLID})?"
    else:
        inner = f"{_SOLID}{_ANY}{_repeat(low - 2, None if high is None else high - 2)}{_SOLID}"
    if allow_blank:
        inner = f"(?:{inner})?"
    return f"^{_SPACE}*{inner}{_SPACE}*$"
