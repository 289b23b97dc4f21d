"""Strict input (issue 5, item 5) against moto: a body that tries to set what the routes do
not declare (the account's status, pauses, balances, Stripe customer, another contractor) is
refused with 400 ``invalid_request`` naming the field, and changes nothing; amounts are
integers in range, strings have length limits, a body that is not a JSON object is a 400
(or 415) JSON error, and an id that is no id is a 400 or 404 JSON error, never a 500.

Each route is called the way API Gateway calls its function, with the verified claims of a
contractor's access token on the ``/me`` routes. The cases of one rule are subtests of one
test, so that the functions and tables are set up once per rule."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import boto3
import pytest

from functions.billing.account import MAX_BUDGET
from tests.integration.steps import open_contractor
from tests.support.aws import TABLES, LambdaContext, rest_event

ME, OTHER = "c-1", "c-2"
NEW_ACCOUNT = {
    "contractor_id": "c-new",
    "business_name": "Acme Roofing",
    "billing_email": "billing@acme.example",
    "locale": "en",
    "timezone": "America/Chicago",
    "monthly_budget_cents": 150_000,
}

# What a body may try to set that no route takes from a body (R13: the contractor is the
# token's; balances and pauses move by billing only).
FORBIDDEN: dict[str, Any] = {
    "status": "active",
    "pauses": [],
    "spent_cents": 0,
    "past_due_cents": 0,
    "unbilled_cents": 0,
    "credit_cents": 1_000_000,
    "stripe_customer_id": "cus_attacker",
    "contractor_id": OTHER,
}

# (function, method, path, a body the route accepts)
ROUTES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("api", "PUT", "/me/budget", {"monthly_cents": 50_000}),
    ("card_updated", "POST", "/me/card/confirm", {"setup_intent_id": "seti_123"}),
    ("card_updated", "POST", "/me/card/setup-intent", {}),
    ("card_updated", "POST", "/me/pay", {}),
    ("api", "POST", "/admin/accounts", NEW_ACCOUNT),
]
ROUTE_IDS = [f"{method} {path}" for _, method, path, _ in ROUTES]


@pytest.fixture
def functions(api: ModuleType, card_updated: ModuleType) -> dict[str, ModuleType]:
    open_contractor(ME, budget=100_000)
    open_contractor(OTHER, budget=7_000)
    return {"api": api, "card_updated": card_updated}


def call(
    module: ModuleType,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: str | None = None,
    headers: dict[str, str] | None = None,
    contractor: str | None = ME,
) -> tuple[int, dict[str, Any]]:
    """The function's answer to a request; the claims of ``contractor``'s token on /me."""
    event = rest_event(method, path, body)
    if raw is not None:
        event["body"] = raw
    if headers is not None:
        event["headers"] = headers
        event["multiValueHeaders"] = {key: [value] for key, value in headers.items()}
    if contractor is not None and path.startswith("/me/"):
        event["requestContext"]["authorizer"] = {
            "claims": {"username": contractor, "scope": "billing/contractor"}
        }
    response = module.handler(event, LambdaContext(function_name="strict-input"))
    answered = {**(response.get("headers") or {}), **(response.get("multiValueHeaders") or {})}
    assert "application/json" in str(answered.get("Content-Type")), response
    return response["statusCode"], json.loads(response["body"])


def accounts() -> dict[str, Any]:
    """Every account item as stored, by contractor id."""
    table = boto3.resource("dynamodb").Table(TABLES["accounts"])
    items = table.scan(ConsistentRead=True)["Items"]
    return {item["contractor_id"]: item for item in items}


def assert_refused(status: int, body: dict[str, Any], field: str | None = None) -> None:
    assert status == 400, body
    assert body["error"] == "invalid_request", body
    assert isinstance(body["message"], str) and body["message"], body
    if field is not None:
        assert field in {problem["field"] for problem in body["problems"]}, body
        assert field in body["message"], body


# ------------------------------------------------------------------ mass assignment


@pytest.mark.parametrize(("function", "method", "path", "valid"), ROUTES, ids=ROUTE_IDS)
def test_a_field_the_route_does_not_declare_is_refused_and_changes_nothing(
    functions, subtests, function, method, path, valid
):
    for field, value in FORBIDDEN.items():
        if field in valid:
            continue  # contractor_id is what POST /admin/accounts opens
        with subtests.test(field=field):
            # Given the accounts as they are
            before = accounts()
            # When a body tries to set the field
            status, body = call(functions[function], method, path, {**valid, field: value})
            # Then it is refused, naming the field, and no account changed or appeared
            assert_refused(status, body, field)
            assert accounts() == before


def test_a_nested_field_the_account_manager_does_not_declare_is_refused(functions):
    manager = {"name": "Ana", "phone": "555-0100", "email": "ana@example.com", "status": "x"}
    before = accounts()
    status, body = call(
        functions["api"], "POST", "/admin/accounts", {**NEW_ACCOUNT, "account_manager": manager}
    )
    assert_refused(status, body, "account_manager.status")
    assert accounts() == before


def test_a_declared_body_changes_the_tokens_contractor_only(functions):
    before = accounts()
    status, body = call(functions["api"], "PUT", "/me/budget", {"monthly_cents": 60_000})
    assert status == 200, body
    after = accounts()
    assert after[OTHER] == before[OTHER]
    assert after[ME]["monthly_budget_cents"] == 60_000


# ------------------------------------------------------------------ amounts

BAD_AMOUNTS = {
    "a float": 100.5,
    "a whole float": 5000.0,
    "a string": "5000",
    "a boolean": True,
    "negative": -1,
    "zero": 0,
    "above the maximum": MAX_BUDGET.cents + 1,
    "null": None,
    "an object": {"cents": 5000},
}
# (function, method, path, the amount's field, a body the route accepts)
AMOUNTS = [
    ("api", "PUT", "/me/budget", "monthly_cents", {"monthly_cents": 50_000}),
    ("api", "POST", "/admin/accounts", "monthly_budget_cents", NEW_ACCOUNT),
    ("api", "POST", "/admin/accounts", "threshold_cents", NEW_ACCOUNT),
]


@pytest.mark.parametrize(
    ("function", "method", "path", "field", "valid"), AMOUNTS, ids=[a[3] for a in AMOUNTS]
)
def test_an_amount_that_is_not_an_integer_in_range_is_refused(
    functions, subtests, function, method, path, field, valid
):
    for name, amount in BAD_AMOUNTS.items():
        with subtests.test(amount=name):
            before = accounts()
            status, body = call(functions[function], method, path, {**valid, field: amount})
            assert_refused(status, body, field)
            assert accounts() == before


def test_the_largest_budget_is_taken(functions):
    status, body = call(functions["api"], "PUT", "/me/budget", {"monthly_cents": MAX_BUDGET.cents})
    assert status == 200, body


# ------------------------------------------------------------------ strings

LONG = "x" * 10_000
# (function, method, path, a string field of its body)
STRINGS = [
    ("api", "POST", "/admin/accounts", "contractor_id"),
    ("api", "POST", "/admin/accounts", "business_name"),
    ("api", "POST", "/admin/accounts", "billing_email"),
    ("api", "POST", "/admin/accounts", "timezone"),
    ("api", "POST", "/admin/accounts", "locale"),
    ("card_updated", "POST", "/me/card/confirm", "setup_intent_id"),
]


def test_an_over_long_or_empty_string_is_refused(functions, subtests):
    for function, method, path, field in STRINGS:
        valid = next(body for _, m, p, body in ROUTES if (m, p) == (method, path))
        for name, text in {"over long": LONG, "empty": ""}.items():
            with subtests.test(path=path, field=field, string=name):
                before = accounts()
                status, body = call(functions[function], method, path, {**valid, field: text})
                assert_refused(status, body, field)
                assert accounts() == before


def test_an_over_long_cursor_is_refused(functions):
    status, body = call(functions["api"], "GET", f"/admin/accounts/{ME}/invoices?cursor={LONG}")
    assert_refused(status, body, "query.cursor")


# ------------------------------------------------------------------ not a JSON object

MALFORMED = {
    "truncated": '{"monthly_cents": ',
    "not JSON": "monthly_cents=5000",
    "a list": "[1, 2]",
    "an empty list": "[]",
    "an empty string": '""',
    "zero": "0",
    "false": "false",
    "a string": '"hello"',
    "a number": "5000",
}


def test_a_body_that_is_not_a_json_object_is_a_400_json_error(functions, subtests):
    for function, method, path, _ in ROUTES:
        for name, raw in MALFORMED.items():
            with subtests.test(route=f"{method} {path}", body=name):
                before = accounts()
                status, body = call(functions[function], method, path, raw=raw)
                assert_refused(status, body)
                assert accounts() == before


def test_a_body_that_is_not_declared_as_json_is_a_415_json_error(functions, subtests):
    for function, method, path, valid in ROUTES:
        for content_type in ("text/plain", "multipart/form-data"):
            with subtests.test(route=f"{method} {path}", content_type=content_type):
                before = accounts()
                status, body = call(
                    functions[function], method, path, valid, headers={"Content-Type": content_type}
                )
                assert (status, body["error"]) == (415, "unsupported_media_type"), body
                assert body["message"]
                assert accounts() == before


def test_a_missing_body_is_refused(functions, subtests):
    for method, path in [("PUT", "/me/budget"), ("POST", "/admin/accounts")]:
        with subtests.test(route=f"{method} {path}"):
            status, body = call(functions["api"], method, path)
            assert_refused(status, body)


# ------------------------------------------------------------------ ids in the path

NOT_IDS = {
    "over long": "c" * 3_000,
    "a space": "c 1",
    "a dot dot": "..",
    "non-ASCII": "c-é",
    "a NUL": "c\x00",
    "a quote": "c'1",
}
ID_PATHS = [
    "/admin/accounts/{id}",
    "/admin/accounts/{id}/invoices",
    "/admin/accounts/{id}/ledger",
    "/admin/invoices/{id}",
    "/me/invoices/{id}",
    "/me/invoices/{id}/pdf",
]


def test_an_id_that_is_no_id_is_a_400_or_404_json_error(functions, subtests):
    for template in ID_PATHS:
        for name, value in NOT_IDS.items():
            with subtests.test(path=template, id=name):
                status, body = call(functions["api"], "GET", template.format(id=value))
                assert status in (400, 404), body
                assert isinstance(body["error"], str) and body["error"], body
                assert isinstance(body["message"], str) and body["message"], body


# An id outside its format (contractor_id as account.py opens it, an invoice id, a lead id) is
# refused by the route's Path annotation: 400 invalid_request naming the parameter, never a 5xx.
BAD_FORMAT_IDS = {
    "3000 characters": "c" * 3_000,
    "a space": "c 1",
    "an encoded slash": "c%2F1",
}
PATH_ID_ROUTES = [
    ("GET", "/admin/accounts/{id}", "contractor_id", None),
    ("PATCH", "/admin/accounts/{id}", "contractor_id", {"monthly_cents": 5_000}),
    ("GET", "/admin/accounts/{id}/invoices", "contractor_id", None),
    ("GET", "/admin/accounts/{id}/ledger", "contractor_id", None),
    ("GET", "/admin/invoices/{id}", "invoice_id", None),
    ("GET", "/me/invoices/{id}", "invoice_id", None),
    ("GET", "/me/invoices/{id}/pdf", "invoice_id", None),
    ("POST", "/admin/leads/{id}/credit", "lead_id", {"contractor_id": ME, "reason": "spam"}),
]


def test_a_path_id_outside_its_format_is_a_400_invalid_request(functions, subtests):
    for method, template, parameter, body in PATH_ID_ROUTES:
        for name, value in BAD_FORMAT_IDS.items():
            with subtests.test(route=f"{method} {template}", id=name):
                status, answer = call(functions["api"], method, template.format(id=value), body)
                assert_refused(status, answer)
                assert parameter in answer["message"], answer


# ------------------------------------------------------------------ every error is an Error


def test_a_route_the_function_does_not_have_is_a_404_json_error(functions):
    for name, module in functions.items():
        status, body = call(module, "GET", "/nowhere", contractor=None)
        assert (status, body["error"]) == (404, "not_found"), name
        assert body["message"], name


def test_an_unexpected_error_is_a_500_json_error_without_its_details(
    functions, subtests, monkeypatch
):
    for error in (KeyError, ValueError):
        with subtests.test(error=error.__name__):

            def broken(*args: Any, error: type[Exception] = error, **kwargs: Any) -> Any:
                raise error("secret detail")

            monkeypatch.setattr("functions.api.contractor.contractor_billing", broken)
            status, body = call(functions["api"], "GET", "/me/billing")
            assert (status, body["error"]) == (500, "internal_error")
            assert "secret detail" not in json.dumps(body)


def test_an_answer_its_route_model_refuses_is_a_500_never_sent(functions, monkeypatch):
    # Given a view that drifted from its route's model: a field the model does not name,
    # and an amount that is no amount
    real = functions["api"].contractor.contractor_billing

    def drifted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        answer = real(*args, **kwargs).model_dump(mode="json")
        return {**answer, "stripe_customer_id": "cus_secret", "unbilled_cents": "12.50"}

    monkeypatch.setattr("functions.api.contractor.contractor_billing", drifted)
    logged: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        functions["api"].logger, "error", lambda message, extra: logged.append((message, extra))
    )
    # When the contractor reads their billing
    status, body = call(functions["api"], "GET", "/me/billing")
    # Then nothing of the drifted answer leaves: a 500, and the mismatch is logged
    assert (status, body["error"]) == (500, "internal_error"), body
    assert "cus_secret" not in json.dumps(body) and "12.50" not in json.dumps(body)
    [(message, extra)] = logged
    assert message == "an answer does not match its route's model"
    assert {(tuple(error["loc"]), error["type"]) for error in extra["errors"]} == {
        (("response", "stripe_customer_id"), "extra_forbidden"),
        (("response", "unbilled_cents"), "int_parsing"),
    }
    assert "cus_secret" not in json.dumps(extra)


def test_a_powertools_http_error_keeps_its_status_in_the_error_shape(functions, monkeypatch):
    from aws_lambda_powertools.event_handler.exceptions import BadRequestError

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise BadRequestError("not like this")

    monkeypatch.setattr("functions.api.contractor.contractor_billing", refused)
    status, body = call(functions["api"], "GET", "/me/billing")
    assert (status, body) == (400, {"error": "bad_request", "message": "not like this"})
