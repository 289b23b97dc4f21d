"""The API's documentation on the local gateway: ``GET /openapi.json`` (the committed
``openapi.json``, ``make openapi``, with the local gateway as its only server) and
``GET /docs``, Swagger UI.

Swagger UI's assets are the ones Powertools ships for its own ``enable_swagger``
(Swagger UI 5, which renders OpenAPI 3.1), served from the gateway itself: nothing is
loaded from a CDN.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_lambda_powertools.event_handler.openapi.swagger_ui as swagger_ui
from werkzeug.wrappers import Request, Response

DOCUMENT_PATH = Path(__file__).resolve().parent.parent / "openapi.json"
ASSETS_DIR = Path(swagger_ui.__file__).resolve().parent
ASSETS = {
    "/docs/swagger-ui.css": ("swagger-ui.min.css", "text/css; charset=utf-8"),
    "/docs/swagger-ui-bundle.js": ("swagger-ui-bundle.min.js", "text/javascript; charset=utf-8"),
}
PATHS = frozenset({"/openapi.json", "/docs", *ASSETS})

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Lead billing API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      layout: "BaseLayout",
      deepLinking: true,
      persistAuthorization: true,
      presets: [SwaggerUIBundle.presets.apis],
    });
  </script>
</body>
</html>
"""


def serves(request: Request) -> bool:
    return request.method in ("GET", "HEAD") and request.path.rstrip("/") in PATHS


def respond(request: Request) -> Response:
    path = request.path.rstrip("/")
    if path == "/openapi.json":
        return _document(request)
    if path == "/docs":
        return Response(_PAGE, mimetype="text/html")
    name, content_type = ASSETS[path]
    return Response(
        (ASSETS_DIR / name).read_bytes(),
        headers={"Content-Type": content_type, "Cache-Control": "max-age=3600"},
    )


def _document(request: Request) -> Response:
    if not DOCUMENT_PATH.exists():
        return _error(404, "not_found", f"{DOCUMENT_PATH.name} does not exist: run make openapi")
    document = json.loads(DOCUMENT_PATH.read_text())
    document["servers"] = [
        {"url": request.host_url.rstrip("/"), "description": "this local stack (make run)"}
    ]
    return Response(json.dumps(document, indent=2), mimetype="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        json.dumps({"error": code, "message": message}), status=status, mimetype="application/json"
    )
