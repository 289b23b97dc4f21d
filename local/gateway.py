"""The local API Gateway: the template's REST API routes, turned into Lambda proxy events
(REST API, payload version 1.0), and the local stack's own ``/_local`` endpoints.

Authorization stands in for what API Gateway does in front of the functions, method by
method, as the template sets it; a request it refuses reaches no function:

* ``COGNITO_USER_POOLS``: a contractor's access token that verifies against the key set the
  gateway publishes at ``/_local/.well-known/jwks.json`` (``local.auth.verify_access_token``:
  RS256 only, a known ``kid``, the signature, issuer, client, ``token_use``, expiry,
  not-before, issued-at) and whose ``scope`` claim (space separated) grants one of the
  method's ``AuthorizationScopes``. Everything else answers as API Gateway's authorizer
  does, 401 ``{"error": "unauthorized", "message": "Unauthorized"}``: no token, a token
  that does not verify, an admin token (no user of the pool), and a valid token without
  the scope. A method without
  scopes takes ID tokens only, which the local stack does not issue. The verified claims
  reach the function in ``requestContext.authorizer.claims``, ``username`` (the contractor
  id) among them.
* ``AWS_IAM``: an admin token stands for an operator's SigV4 signature. No
  ``Authorization`` header answers 403 ``Missing Authentication Token``, as an unsigned
  request does; anything else that is not a valid admin token (a contractor's token, an
  expired or forged one) answers 403, as a header that is no valid signature does.
* ``NONE``: no token; the request goes to the function as it came.

Tokens are bearer JWTs from ``POST /_local/token``. Like API Gateway, a path or method the
API does not have answers 403 ``Missing Authentication Token``.

The gateway also serves what the deployed stack serves from CloudFront: the Lead Manager's
billing page at ``/app/`` (``web/``, on the API's origin as the distribution puts it), and
the local sign-in that stands for the user pool's hosted login, ``/_local/oauth2/*``
(``local/web.py``).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import unquote

import jwt
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local import docs
from local.auth import TokenIssuer, authorizer_claims
from local.clock import parse_instant
from local.runtime import Runtime
from local.specs import RouteSpec
from local.template import ACCOUNT_ID
from local.web import LeadManagerPage


class Control(Protocol):
    """What the ``/_local`` endpoints need from the local stack."""

    def config(self) -> dict[str, Any]: ...

    def now(self) -> datetime: ...

    def advance_to(self, instant: datetime) -> datetime: ...

    def emails(self) -> list[dict[str, Any]]: ...

    def events(self) -> list[dict[str, Any]]: ...

    def invocations(self) -> list[dict[str, Any]]: ...


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=dict(headers or {}), mimetype="application/json"
    )


# API Gateway's own answers when it refuses a request, with their ``x-amzn-ErrorType``.


def _unauthorized() -> Response:
    return _json(
        401,
        {"error": "unauthorized", "message": "Unauthorized"},
        {"x-amzn-ErrorType": "UnauthorizedException"},
    )


def _missing_authentication_token() -> Response:
    return _json(
        403,
        {"error": "missing_authentication_token", "message": "Missing Authentication Token"},
        {"x-amzn-ErrorType": "MissingAuthenticationTokenException"},
    )


def _forbidden() -> Response:
    return _json(
        403,
        {"error": "forbidden", "message": "Forbidden"},
        {"x-amzn-ErrorType": "ForbiddenException"},
    )


def _gateway_error(status: int, message: str) -> Response:
    return _json(status, {"error": "gateway_error", "message": message})


class _QuietHandler(WSGIRequestHandler):
    """Serves requests without an access log line for each."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Route:
    def __init__(self, spec: RouteSpec) -> None:
        self.spec = spec
        self.segments = [s for s in spec.resource_path.split("/") if s]

    def specificity(self) -> tuple[int, ...]:
        return tuple(
            2 if s.endswith("+}") else 1 if s.startswith("{") else 0 for s in self.segments
        )

    def match(self, parts: Sequence[str]) -> dict[str, str] | None:
        parameters: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.startswith("{") and segment.endswith("+}"):
                rest = parts[index:]
                if not rest:
                    return None
                parameters[segment[1:-2]] = "/".join(rest)
                return parameters
            if index >= len(parts):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                parameters[segment[1:-1]] = parts[index]
            elif segment != parts[index]:
                return None
        return parameters if len(parts) == len(self.segments) else None


def find_route(
    routes: Iterable[Route], method: str, path: str
) -> tuple[Route, dict[str, str]] | bool | None:
    """The route for a request and its path parameters; False when the path exists but
    not with that method; None when no resource has that path."""
    parts = [unquote(p) for p in path.split("/") if p]
    candidates = []
    for route in routes:
        parameters = route.match(parts)
        if parameters is not None:
            candidates.append((route.specificity(), route, parameters))
    if not candidates:
        return None
    candidates.sort(key=lambda item: item[0])
    best = candidates[0][0]
    same_resource = [(r, p) for s, r, p in candidates if s == best]
    for wanted in (method, "ANY"):
        for route, parameters in same_resource:
            if route.spec.method == wanted:
                return route, parameters
    return False


class Gateway:
    def __init__(
        self,
        routes: Sequence[RouteSpec],
        runtime: Runtime,
        tokens: TokenIssuer,
        control: Control,
        binary_media_types: Sequence[str] = (),
        default_scopes: Sequence[str] = (),
    ) -> None:
        self.routes = [Route(spec) for spec in routes]
        self.runtime = runtime
        self.tokens = tokens
        self.control = control
        self.binary_media_types = list(binary_media_types)
        self.default_scopes = list(default_scopes)
        # The Lead Manager's billing page at /app/ and its local sign-in (local/web.py).
        self.page = LeadManagerPage(control, tokens, self.default_scopes)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ server

    def serve(self, host: str, port: int, access_log: bool = False) -> None:
        self._server = make_server(
            host,
            port,
            self.wsgi,
            threaded=True,
            request_handler=None if access_log else _QuietHandler,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="gateway"
        )
        self._thread.start()

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            if self.page.serves(request):  # /app/ and /_local/oauth2/*: local/web.py
                response = self.page.respond(request)
            elif request.path == "/_local" or request.path.startswith("/_local/"):
                response = self._local(request)
            elif docs.serves(request):  # /openapi.json and /docs (Swagger UI): local only
                response = docs.respond(request)
            else:
                response = self._api(request)
        except Exception as exc:  # the gateway itself must keep serving
            response = _gateway_error(500, f"local gateway error: {exc!r}")
        return response(environ, start_response)

    # ------------------------------------------------------------------ /_local

    def _local(self, request: Request) -> Response:
        path, method = request.path.rstrip("/"), request.method
        if path == "/_local/config" and method == "GET":
            return _json(200, self.control.config())
        if path == "/_local/clock" and method == "GET":
            return _json(200, {"now": self.control.now().isoformat()})
        if path == "/_local/clock" and method == "POST":
            return self._move_clock(request)
        if path == "/_local/token" and method == "POST":
            return self._token(request)
        if path == "/_local/emails" and method == "GET":
            return _json(200, {"items": self.control.emails()})
        if path == "/_local/events" and method == "GET":
            return _json(200, {"items": self.control.events()})
        if path == "/_local/invocations" and method == "GET":
            return _json(200, {"items": self.control.invocations()})
        if path == "/_local/.well-known/jwks.json" and method == "GET":
            return _json(200, self.tokens.jwks())
        return _json(404, {"message": f"no local endpoint {method} {path}"})

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return body

    def _move_clock(self, request: Request) -> Response:
        try:
            body = self._body(request)
            if ("set" in body) == ("advance_seconds" in body):
                raise ValueError('give exactly one of "set" (ISO 8601) or "advance_seconds"')
            if "set" in body:
                target = parse_instant(str(body["set"]))
            else:
                seconds = body["advance_seconds"]
                if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                    raise ValueError("advance_seconds must be a number")
                target = self.control.now() + timedelta(seconds=seconds)
            if target < self.control.now():
                raise ValueError(
                    f"the clock only moves forward; it is {self.control.now().isoformat()}"
                )
        except ValueError as exc:
            return _json(400, {"message": str(exc)})
        try:
            now = self.control.advance_to(target)
        except ValueError as exc:
            return _json(400, {"message": str(exc)})
        except TimeoutError as exc:
            return _json(504, {"message": str(exc), "now": self.control.now().isoformat()})
        return _json(200, {"now": now.isoformat()})

    def _token(self, request: Request) -> Response:
        try:
            body = self._body(request)
            contractor_id = body.get("contractor_id")
            role = body.get("role")
            if role is not None and role != "admin":
                raise ValueError('the only role is "admin"')
            scope = body.get("scope")
            if contractor_id is not None and scope is None:
                scope = self.default_scopes or None
            token = self.tokens.issue(
                contractor_id=None if contractor_id is None else str(contractor_id),
                role=role,
                scope=scope,
                expires_in=int(body.get("expires_in", 3600)),
            )
        except (ValueError, TypeError) as exc:
            return _json(400, {"message": str(exc)})
        return _json(200, {"token": token})

    # ------------------------------------------------------------------ API routes

    def _authorize(
        self, route: RouteSpec, request: Request
    ) -> tuple[Response | None, dict[str, Any] | None]:
        if route.authorization == "NONE":
            return None, None
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else header.strip()
        if route.authorization == "AWS_IAM":
            return self._authorize_iam(token)
        return self._authorize_cognito(route, token)

    def _authorize_iam(self, token: str) -> tuple[Response | None, dict[str, Any] | None]:
        if not token:
            return _missing_authentication_token(), None
        try:
            claims = self.tokens.verify(token)
        except jwt.InvalidTokenError:
            return _forbidden(), None
        if claims.get("role") != "admin":
            return _forbidden(), None
        return None, claims

    def _authorize_cognito(
        self, route: RouteSpec, token: str
    ) -> tuple[Response | None, dict[str, Any] | None]:
        if not token:
            return _unauthorized(), None
        try:
            claims = self.tokens.verify(token)
        except jwt.InvalidTokenError:
            return _unauthorized(), None
        # A token of the user pool, which an admin token is not.
        if claims.get("role") is not None or not claims.get("username"):
            return _unauthorized(), None
        # Without scopes API Gateway takes ID tokens only; with scopes, access tokens granted
        # one of them. A valid token without the scope is answered 401, not 403.
        if not route.scopes:
            return _unauthorized(), None
        granted = set(str(claims.get("scope", "")).split())
        if not granted & set(route.scopes):
            return _unauthorized(), None
        return None, claims

    def _api(self, request: Request) -> Response:
        found = find_route(self.routes, request.method, request.path)
        if not found:
            return _missing_authentication_token()
        assert isinstance(found, tuple)
        route, parameters = found
        spec = route.spec
        if spec.function is None:  # MOCK integration (CORS preflight)
            return Response(b"", status=spec.mock_status, headers=dict(spec.mock_headers))
        denied, claims = self._authorize(spec, request)
        if denied is not None:
            return denied
        event = self.proxy_event(spec, request, parameters, claims)
        invocation = self.runtime.invoke(spec.function, event, source="api")
        if not invocation.ok:
            error = invocation.error or {}
            if error.get("errorType") == "Sandbox.Timedout":
                return _gateway_error(504, "Endpoint request timed out")
            return _gateway_error(502, "Internal server error")
        return self.proxy_response(invocation.result)

    def proxy_event(
        self,
        spec: RouteSpec,
        request: Request,
        parameters: Mapping[str, str],
        claims: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        multi_headers: dict[str, list[str]] = {}
        for key, value in request.headers.items():
            multi_headers.setdefault(key, []).append(value)
        multi_query = {key: request.args.getlist(key) for key in request.args}
        raw = request.get_data()
        content_type = (request.mimetype or "").lower()
        binary = any(
            content_type == t
            or (t.endswith("/*") and content_type.startswith(t[:-1]))
            or t == "*/*"
            for t in self.binary_media_types
        )
        if not raw:
            body, encoded = None, False
        elif binary:
            body, encoded = base64.b64encode(raw).decode(), True
        else:
            body, encoded = raw.decode("utf-8", errors="replace"), False
        now = self.control.now()
        source_ip = request.remote_addr or "127.0.0.1"
        identity: dict[str, Any] = {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "sourceIp": source_ip,
            "principalOrgId": None,
            "accessKey": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": request.headers.get("User-Agent"),
            "user": None,
        }
        context: dict[str, Any] = {
            "resourceId": spec.resource_path,
            "resourcePath": spec.resource_path,
            "httpMethod": request.method,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{spec.stage}{request.path}",
            "accountId": ACCOUNT_ID,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "stage": spec.stage,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": identity,
            "domainName": request.host,
            "apiId": spec.rest_api,
        }
        if spec.authorization == "AWS_IAM" and claims is not None:
            user = f"AROALOCAL:{claims.get('sub', 'admin')}"
            identity.update(
                accountId=ACCOUNT_ID,
                caller=user,
                user=user,
                accessKey="ASIALOCAL",
                userArn=f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/admin/{claims.get('sub')}",
            )
        elif spec.authorization == "COGNITO_USER_POOLS" and claims is not None:
            context["authorizer"] = {"claims": authorizer_claims(dict(claims))}
        return {
            "resource": spec.resource_path,
            "path": request.path,
            "httpMethod": request.method,
            "headers": {key: values[-1] for key, values in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": dict(parameters) or None,
            "stageVariables": None,
            "requestContext": context,
            "body": body,
            "isBase64Encoded": encoded,
        }

    @staticmethod
    def proxy_response(result: Any) -> Response:
        if not isinstance(result, Mapping) or not isinstance(result.get("statusCode"), int):
            return _gateway_error(502, "Internal server error")
        body = result.get("body")
        if body is None:
            data = b""
        elif result.get("isBase64Encoded"):
            data = base64.b64decode(str(body))
        else:
            data = str(body).encode()
        response = Response(data, status=int(result["statusCode"]))
        response.headers.pop("Content-Type", None)
        for key, value in (result.get("headers") or {}).items():
            response.headers[key] = str(value)
        for key, values in (result.get("multiValueHeaders") or {}).items():
            response.headers.pop(key, None)
            for value in values:
                response.headers.add(key, str(value))
        if "Content-Type" not in response.headers:
            response.headers["Content-Type"] = "application/json"
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        return response
