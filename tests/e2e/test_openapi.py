"""The local gateway serves the API's documentation: ``GET /openapi.json`` is the committed
document with the gateway as its server, and ``GET /docs`` is Swagger UI whose every asset
comes from the gateway itself (there is no CDN to reach).

The gateway runs on a free port with no API routes: these routes need no function."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
import requests

from infra.openapi import DOCUMENT_PATH
from local.auth import TokenIssuer
from local.gateway import Gateway
from local.processes import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    served = Gateway([], runtime=None, tokens=TokenIssuer(f"{url}/_local"), control=None)  # type: ignore[arg-type]
    served.serve("127.0.0.1", port)
    yield url
    served.shutdown()


class _Assets(HTMLParser):
    """The URLs a page loads: scripts, stylesheets, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def test_openapi_json_is_the_committed_document_served_by_the_gateway(gateway: str):
    response = requests.get(f"{gateway}/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    served = response.json()
    committed = json.loads(DOCUMENT_PATH.read_text())
    assert served["servers"] == [{"url": gateway, "description": "this local stack (make run)"}]
    assert {k: v for k, v in served.items() if k != "servers"} == {
        k: v for k, v in committed.items() if k != "servers"
    }


def test_docs_is_swagger_ui_with_every_asset_from_the_gateway(gateway: str):
    page = requests.get(f"{gateway}/docs", timeout=30)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert 'url: "/openapi.json"' in page.text
    parser = _Assets()
    parser.feed(page.text)
    assert sorted(parser.urls) == ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"]
    for url in parser.urls:
        asset = requests.get(f"{gateway}{url}", timeout=30)
        assert asset.status_code == 200, url
        assert len(asset.content) > 10_000, url
    script = requests.get(f"{gateway}/docs/swagger-ui-bundle.js", timeout=30)
    assert "javascript" in script.headers["Content-Type"]
    assert "SwaggerUIBundle" in script.text
    # Swagger UI 5 or later: earlier ones cannot render an OpenAPI 3.1 document
    assert "isOAS31" in script.text
    css = requests.get(f"{gateway}/docs/swagger-ui.css", timeout=30)
    assert css.headers["Content-Type"].startswith("text/css")


def test_the_documentation_routes_take_no_other_method(gateway: str):
    # Anything else is the API's, which has no such route: API Gateway's 403.
    response = requests.post(f"{gateway}/openapi.json", timeout=30)
    assert response.status_code == 403
