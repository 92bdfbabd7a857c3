"""Errors the services and selectors raise; the API maps each to one HTTP status.

They carry a message written for the person at the keyboard, since the labeling
UI shows it as is."""

from __future__ import annotations


class ApplicationError(Exception):
    status_code = 400
    code = "error"

    def __init__(
        self, message: str, *, fields: dict[str, list[str]] | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        # Seconds until the same request may succeed (the Retry-After header).
        self.retry_after = retry_after


class InvalidInputError(ApplicationError):
    status_code = 400
    code = "invalid"


class ForbiddenError(ApplicationError):
    status_code = 403
    code = "forbidden"


class NotFoundError(ApplicationError):
    status_code = 404
    code = "not_found"


class ConflictError(ApplicationError):
    status_code = 409
    code = "conflict"


class ThrottledError(ApplicationError):
    status_code = 429
    code = "throttled"
