"""Error answers of the HTTP functions (api, card_updated): JSON with a machine-readable
``error`` code and a human ``message``, and the handlers both functions share for what
no route-specific handler expects.

``infra/openapi.py`` reads the statuses and codes of the ``_error(status, code, ...)``
calls in the exception handlers registered here and in each handler module.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    ResponseValidationError,
)

# Powertools' body parsing raises a bare ValueError for a multipart/form-data Content-Type
# without a boundary; a ValueError from anywhere else is unexpected.
_BODY_PARSING_MODULE = "aws_lambda_powertools.event_handler.middlewares.openapi_validation"


def _error(status: int, code: str, message: str, /, **extra: Any) -> Response[dict[str, Any]]:
    return Response(status, "application/json", {"error": code, "message": message, **extra})


error_response = _error


def add_common_error_handlers(app: APIGatewayRestResolver, logger: Logger) -> None:
    """Unsupported bodies (415), Powertools' HTTP errors, unknown routes (404) and anything
    unexpected (500, logged with its traceback, never shown to the caller), such as an
    answer its route's model refuses (the resolver is made with
    ``response_validation_error_http_code=500``)."""

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_media_type(error: Exception) -> Response[dict[str, Any]]:
        return _error(415, "unsupported_media_type", "the body must be application/json")

    @app.exception_handler(ValueError)
    def _unreadable_body(error: ValueError) -> Response[dict[str, Any]]:
        if _raised_by(error, _BODY_PARSING_MODULE):
            return _unsupported_media_type(error)
        return _internal_error(error)

    @app.exception_handler(ServiceError)
    def _service_error(error: ServiceError) -> Response[dict[str, Any]]:
        # Powertools' HTTP errors (BadRequestError, ...) keep their status, in this shape.
        known = error.status_code in HTTPStatus._value2member_map_
        phrase = HTTPStatus(error.status_code).phrase if known else "error"
        code = phrase.lower().replace(" ", "_").replace("-", "_")
        return _error(error.status_code, code, str(error.msg))

    @app.not_found
    def _no_route(error: Exception) -> Response[dict[str, Any]]:
        event = app.current_event
        return _error(404, "not_found", f"no route {event.http_method} {event.path}")

    @app.exception_handler(ResponseValidationError)
    def _invalid_answer(error: ResponseValidationError) -> Response[dict[str, Any]]:
        logger.error(
            "an answer does not match its route's model",
            extra={"errors": [{"loc": e["loc"], "type": e["type"]} for e in error.errors()]},
        )
        return _error(500, "internal_error", "an unexpected error occurred; it has been logged")

    @app.exception_handler(Exception)
    def _internal_error(error: Exception) -> Response[dict[str, Any]]:
        logger.exception("unhandled error")
        return _error(500, "internal_error", "an unexpected error occurred; it has been logged")


def _raised_by(error: BaseException, module: str) -> bool:
    """Whether ``error`` was raised by code of ``module`` (its innermost frame)."""
    trace = error.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    return trace is not None and trace.tb_frame.f_globals.get("__name__") == module
