"""The API's OpenAPI 3.1 document, generated from the code of the functions that serve it.

``python -m infra.openapi`` (``make openapi``) writes ``openapi.json`` at the repository
root; ``--check`` writes nothing and exits 1 when the committed file differs from what the
code gives (``tests/infra/test_openapi_document.py`` fails the same way).

Each function that serves routes (``API_FUNCTIONS``) has one Powertools resolver, ``app``
of its ``handler`` module. The document is their ``get_openapi_schema()`` merged by
Powertools' ``OpenAPIMerge``, then completed with what the resolvers do not know:

* **Errors.** Every 4xx/5xx a function answers is an ``Error`` body (``error``, a machine
  code; ``message``, for people; ``problems``, the fields at fault). The statuses and
  codes are read from the ``_error(status, code, ...)`` calls of the handler module's
  exception handlers, so a new handler is documented when the document is regenerated.
  Powertools' 422 is dropped: the functions answer invalid requests with 400.
* **Authorization**, as ``infra/api.py`` sets it per group of routes: ``/admin`` takes an
  operator's SigV4 signature (IAM), ``/me`` a contractor's Cognito access token with the
  ``billing/contractor`` scope, ``/webhooks`` nothing (Stripe signs the body). API
  Gateway's own refusals (authorizer, throttling) are a ``GatewayError``: an ``error``
  code and API Gateway's ``message`` (``infra/api.py`` gateway responses).
  ``tests/infra/test_openapi_routes.py`` checks these, and the set of routes, against the
  synthesized template.
* ``x-function``: the function whose resolver declares the operation.

The handler modules parse their settings at import; dummy values (no network is used)
stand in for the variables the functions' settings classes name, only while importing.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import importlib
import inspect
import json
import os
import sys
import tomllib
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any

from functions.adapters import http_errors
from infra import names

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCUMENT_PATH = REPO_ROOT / "openapi.json"

# The functions whose resolvers serve the API's routes (infra/api.py).
API_FUNCTIONS = (names.API, names.CARD_UPDATED)

TITLE = "Lead billing API"
DESCRIPTION = """\
Pay-per-lead billing for contractors: the contractor's own billing (`/me`, for the Pro App
and the Lead Manager), the operators' routes (`/admin`) and Stripe's webhook.

* **Contractor routes** take a Cognito access token of the contractors' user pool with the
  scope `billing/contractor` (`Authorization: Bearer <token>`). The contractor is the
  token's `username`, never a path, query or body field.
* **Operator routes** are authorized by IAM: requests signed with AWS Signature Version 4.
* **`POST /webhooks/stripe`** takes no token: Stripe signs every body (`Stripe-Signature`).

Amounts are integer cents; instants are ISO 8601 with an offset. Bodies are strict: a
field the operation does not declare is refused with 400 `invalid_request`.

Every error a function answers is an `Error`: `error` is a machine-readable code,
`message` a human one, `problems` the fields at fault. API Gateway's own refusals (no or
bad credentials, throttling) are a `GatewayError`: an `error` code and API Gateway's
`message`.

Every success answer is described field by field (no other field is ever sent): the
functions check each answer against its schema before it leaves.

Locally (`make run`) the gateway serves this document at `/openapi.json` and Swagger UI at
`/docs`; `POST /_local/token` issues contractor tokens (`{"contractor_id": "..."}`) and an
admin token (`{"role": "admin"}`) that stands in for a SigV4 signature."""

CONTRACTOR_SCHEME = "contractor"
OPERATOR_SCHEME = "operator"
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    CONTRACTOR_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A Cognito access token of the contractors' user pool granted the "
        f"scope `{names.CONTRACTOR_SCOPE}` (authorization code grant with PKCE on the "
        "pool's domain). Locally: `POST /_local/token` with "
        '`{"contractor_id": "demo-contractor"}`.',
    },
    OPERATOR_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "x-amazon-apigateway-authtype": "awsSigv4",
        "description": "IAM authorization: the request signed with AWS Signature Version 4 "
        "by an operator's role allowed `execute-api:Invoke`. Locally: `Bearer <token>` "
        'with a token from `POST /_local/token` with `{"role": "admin"}`.',
    },
}

# What each group of routes takes, and how API Gateway refuses a request without it.
# (security requirement, tag, status of API Gateway's refusal or None)
ROUTE_GROUPS: dict[str, tuple[list[dict[str, list[str]]], str, int | None]] = {
    "/admin/": ([{OPERATOR_SCHEME: []}], "operator", 403),
    "/me/": ([{CONTRACTOR_SCHEME: [names.CONTRACTOR_SCOPE]}], "contractor", 401),
    "/webhooks/": ([], "webhooks", None),
}
TAGS = [
    {"name": "contractor", "description": "The contractor's own billing (Pro App, Lead Manager)"},
    {"name": "operator", "description": "Account managers' routes"},
    {"name": "webhooks", "description": "Stripe's events, verified by their signature"},
]

SCHEMA_REF = "#/components/schemas/"
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "description": "Every error a function answers. Some add fields (such as `status`).",
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {
            "type": "string",
            "description": "A machine-readable code, such as `invalid_request`",
        },
        "message": {"type": "string", "description": "What went wrong, for people"},
        "problems": {
            "type": "array",
            "description": "The fields at fault; an empty field is the body as a whole",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
GATEWAY_ERROR_SCHEMA: dict[str, Any] = {
    "title": "GatewayError",
    "description": "API Gateway's own answer when it refuses a request before any function "
    "runs (authorizer, throttling) or cannot reach one: a machine-readable `error` code and "
    "API Gateway's `message` (`Unauthorized`, `Forbidden`, `Missing Authentication Token`, "
    "`Too Many Requests`, ...).",
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {
            "type": "string",
            # infra/api.py GATEWAY_RESPONSES
            "enum": [
                "unauthorized",
                "forbidden",
                "missing_authentication_token",
                "throttled",
                "request_refused",
                "gateway_error",
            ],
        },
        "message": {"type": "string"},
    },
}
THROTTLED_STATUS = 429

# Settings that are not strings in the settings classes would need a typed dummy; every
# setting of the API functions is a name, an ARN or a URL.
_DUMMY_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "openapi",
    "AWS_SECRET_ACCESS_KEY": "openapi",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": names.SERVICE_NAME,
}


class DocumentError(RuntimeError):
    """The code does not give a consistent document."""


# ---------------------------------------------------------------------- the handlers


@contextlib.contextmanager
def _dummy_environment() -> Iterator[None]:
    """The variables the API functions' settings name, set to dummies while the handler
    modules are imported; the environment as it was afterwards."""
    wanted = dict(_DUMMY_ENVIRONMENT)
    for function in API_FUNCTIONS:
        for field in names.FUNCTION_SETTINGS[function].model_fields.values():
            if field.alias:
                wanted.setdefault(field.alias, f"openapi-{field.alias.lower()}")
    saved = {key: os.environ.get(key) for key in wanted}
    for key, value in wanted.items():
        os.environ.setdefault(key, value)
    try:
        yield
    finally:
        for key, previous in saved.items():
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous


def handler_module(function: str) -> ModuleType:
    """The function's handler module, imported (or as already imported)."""
    module_name = names.handler_path(function).rsplit(".", 1)[0]
    if module_name in sys.modules:
        return sys.modules[module_name]
    with _dummy_environment():
        return importlib.import_module(module_name)


def error_statuses(module: ModuleType) -> dict[int, list[str]]:
    """The statuses and codes of the ``_error(status, code, ...)`` answers of the module's
    exception handlers (functions decorated with ``app.exception_handler`` or
    ``app.not_found``), and of the shared ones it installs (``add_common_error_handlers``)."""
    source = inspect.getsource(module)
    sources = [(module.__name__, source)]
    if "add_common_error_handlers(app" in source:
        sources.append((http_errors.__name__, inspect.getsource(http_errors)))
    found: dict[int, set[str]] = {}
    for name, text in sources:
        _collect_error_codes(name, ast.parse(text), found)
    return {status: sorted(codes) for status, codes in sorted(found.items())}


def _collect_error_codes(module_name: str, tree: ast.Module, found: dict[int, set[str]]) -> None:
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef) or not any(
            _is_error_handler_decorator(decorator) for decorator in node.decorator_list
        ):
            continue
        for call in ast.walk(node):
            if not (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id == "_error"
                and len(call.args) >= 2
            ):
                continue
            status, code = call.args[0], call.args[1]
            if not (isinstance(status, ast.Constant) and isinstance(status.value, int)):
                continue  # a status passed through (ServiceError): the route documents it
            if not (isinstance(code, ast.Constant) and isinstance(code.value, str)):
                raise DocumentError(
                    f"{module_name}:{call.lineno}: _error's code must be a literal string"
                )
            found.setdefault(status.value, set()).add(code.value)


def _is_error_handler_decorator(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (
        isinstance(target, ast.Attribute)
        and target.attr in ("exception_handler", "not_found")
        and isinstance(target.value, ast.Name)
        and target.value.id == "app"
    )


# ---------------------------------------------------------------------- the document


def build_document() -> dict[str, Any]:
    """The OpenAPI document of every API function's routes, as the code gives it now."""
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge

    merge = OpenAPIMerge(
        title=TITLE,
        version=_project_version(),
        description=DESCRIPTION,
        on_conflict="error",
    )
    schemas: dict[str, dict[str, Any]] = {}
    for function in API_FUNCTIONS:
        module = handler_module(function)
        document = _as_dict(module.app.get_openapi_schema())
        _check_schema_names(schemas, document, function)
        errors = error_statuses(module)
        for path, item in document.get("paths", {}).items():
            for method, operation in item.items():
                _complete(operation, path, method, function, errors)
        merge.add_schema(document)
    merged = copy.deepcopy(merge.get_openapi_schema())
    return _finish(merged)


def _as_dict(schema: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = schema.model_dump(by_alias=True, exclude_none=True, mode="json")
    return dumped


def _check_schema_names(
    seen: dict[str, dict[str, Any]], document: Mapping[str, Any], function: str
) -> None:
    """Two functions may share a model, never give one name to two different models."""
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        if name in seen and seen[name] != schema:
            raise DocumentError(
                f"two models named {name} differ ({function} and another function): "
                "rename one of them"
            )
        seen[name] = schema


def _complete(
    operation: dict[str, Any],
    path: str,
    method: str,
    function: str,
    errors: Mapping[int, list[str]],
) -> None:
    group = next((g for prefix, g in ROUTE_GROUPS.items() if path.startswith(prefix)), None)
    if group is None:
        raise DocumentError(
            f"{method.upper()} {path}: no route group of infra/openapi.py covers it "
            f"(known: {', '.join(ROUTE_GROUPS)})"
        )
    security, tag, refusal = group
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if "422" not in {str(status) for status in errors}:
        responses.pop("422", None)  # Powertools' validation error: answered as 400 here
    if responses.get("500", {}).get("description") == "Response Validation Error":
        # An answer its model refuses is an unexpected error like any other (http_errors).
        del responses["500"]
    for declared, response in responses.items():
        # An error a route documents itself keeps its description; its body is an Error.
        if (
            str(declared).isdigit()
            and int(declared) >= 400
            and "application/json" in response.get("content", {})
        ):
            response["content"] = _json_content({"$ref": f"{SCHEMA_REF}Error"})
    for status, codes in errors.items():
        responses.setdefault(str(status), _error_response(status, codes))
    if refusal is not None:
        current = responses.get(str(refusal), _error_response(refusal, []))
        responses[str(refusal)] = _with_gateway_refusal(current)
    responses.setdefault(
        str(THROTTLED_STATUS),
        {
            "description": "Too Many Requests: API Gateway's throttling",
            "content": _json_content({"$ref": f"{SCHEMA_REF}GatewayError"}),
        },
    )
    operation["responses"] = {
        status: responses[status] for status in sorted(responses, key=_status_order)
    }
    operation["security"] = copy.deepcopy(security)
    operation.setdefault("tags", [tag])
    operation["x-function"] = function


def _status_order(status: str) -> tuple[int, str]:
    return (int(status), "") if status.isdigit() else (1000, status)


def _error_response(status: int, codes: list[str]) -> dict[str, Any]:
    phrase = HTTPStatus(status).phrase
    shown = ", ".join(f"`{code}`" for code in codes)
    return {
        "description": f"{phrase}: {shown}" if shown else phrase,
        "content": _json_content({"$ref": f"{SCHEMA_REF}Error"}),
    }


def _with_gateway_refusal(response: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": f"{response['description']}; or API Gateway's refusal of the "
        "credentials (`GatewayError`)",
        "content": _json_content(
            {"anyOf": [{"$ref": f"{SCHEMA_REF}Error"}, {"$ref": f"{SCHEMA_REF}GatewayError"}]}
        ),
    }


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _finish(document: dict[str, Any]) -> dict[str, Any]:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["GatewayError"] = GATEWAY_ERROR_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    document["servers"] = servers()
    document["tags"] = TAGS
    document["paths"] = {path: document["paths"][path] for path in sorted(document["paths"])}
    _prune_unreferenced(document)
    components["schemas"] = {name: schemas[name] for name in sorted(schemas)}
    _integral_bounds(document)
    return document


def servers(local_url: str | None = None) -> list[dict[str, Any]]:
    """The deployed stage; with ``local_url``, only that local gateway."""
    if local_url is not None:
        return [{"url": local_url, "description": "the local stack of `make run`"}]
    return [
        {
            "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}",
            "description": "the deployed REST API (the stack's API endpoint output)",
            "variables": {
                "restApiId": {"default": "restApiId", "description": "the REST API's id"},
                "region": {"default": "us-east-1"},
                "stage": {"default": names.API_STAGE_NAME, "enum": [names.API_STAGE_NAME]},
            },
        },
        {"url": "http://127.0.0.1:3000", "description": "the local stack of `make run`"},
    ]


def _prune_unreferenced(document: dict[str, Any]) -> None:
    """Drop the component schemas nothing refers to (Powertools' validation errors)."""
    schemas: dict[str, Any] = document["components"]["schemas"]
    reachable: set[str] = set()
    pending = _references({k: v for k, v in document.items() if k != "components"})
    while pending:
        name = pending.pop()
        if name in reachable or name not in schemas:
            continue
        reachable.add(name)
        pending |= _references(schemas[name])
    for name in set(schemas) - reachable:
        del schemas[name]


def _references(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_REF):
            found.add(ref.removeprefix(SCHEMA_REF))
        for item in value.values():
            found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


def _integral_bounds(value: Any) -> None:
    """Powertools' models hold bounds as floats; ``1.0`` reads as ``1`` for integers."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _BOUNDS and isinstance(item, float) and item.is_integer():
                value[key] = int(item)
            else:
                _integral_bounds(item)
    elif isinstance(value, list):
        for item in value:
            _integral_bounds(item)


def _project_version() -> str:
    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def render(document: Mapping[str, Any]) -> str:
    """The document as ``openapi.json`` holds it."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.openapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    parser.add_argument("--output", type=Path, default=DOCUMENT_PATH)
    args = parser.parse_args(argv)
    text = render(build_document())
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} differs from what the code gives: run make openapi")
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text)
    document = json.loads(text)
    count = sum(len(item) for item in document["paths"].values())
    print(f"wrote {args.output} ({count} operations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
