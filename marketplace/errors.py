"""Errors that services raise for a person to read; views and the API turn them into 4xx."""


class DomainError(Exception):
    """A business rule refused the operation. `message` is shown to the user as is."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class ConflictError(DomainError):
    """The object is not in a state that allows this (already shipped, out of stock...)."""

    status_code = 409
    code = "conflict"
