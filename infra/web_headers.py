"""The security headers of the Lead Manager's billing page (``web/``), defined once for both
places that serve it: CloudFront's response headers policy (``infra/web.py``) and the local
gateway's ``/app/`` (``local/web.py``). This module imports no CDK, so that the local
gateway can import it without starting jsii.

The content security policy allows the page's own files, its API (the same origin: the
distribution routes ``/me/*`` to the REST API, and so does the local gateway), Stripe.js
and its frames (the card Element, 3-D Secure), and the sign-in's token endpoint. Nothing
inline: the page has no inline script or style, and renders data as text only.
"""

from __future__ import annotations

from collections.abc import Iterable

# Stripe.js, loaded from Stripe as Stripe requires, its frames (the card Element, 3-D
# Secure challenges) and its API, which the card Element calls with the publishable key.
STRIPE_JS_URL = "https://js.stripe.com/v3/"
STRIPE_SCRIPT_SOURCES = ("https://js.stripe.com", "https://*.js.stripe.com")
STRIPE_FRAME_SOURCES = (
    "https://js.stripe.com",
    "https://*.js.stripe.com",
    "https://hooks.stripe.com",
)
STRIPE_CONNECT_SOURCES = ("https://api.stripe.com",)

# Two years, the value HSTS preload lists ask for; HTTPS only (CloudFront), so sent there only.
HSTS_MAX_AGE_SECONDS = 63_072_000
# The sign-in's redirect carries ``?code=`` in the page's URL: other origins get the
# origin only, never the path and query.
REFERRER_POLICY = "strict-origin-when-cross-origin"


def content_security_policy(
    *,
    script: Iterable[str] = (),
    connect: Iterable[str] = (),
    frame: Iterable[str] = (),
) -> str:
    """The page's policy: its own origin, plus the sources given for scripts, fetches
    and frames. No ``'unsafe-inline'``, no ``'unsafe-eval'``; nobody may frame it."""
    frames = list(frame)
    directives = {
        "default-src": ["'none'"],
        "script-src": ["'self'", *script],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'", *connect],
        "frame-src": frames or ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def deployed_policy(sign_in_origin: str) -> str:
    """The policy CloudFront sends: Stripe.js from Stripe, and the user pool's domain,
    whose token endpoint the page calls to redeem the authorization code."""
    return content_security_policy(
        script=STRIPE_SCRIPT_SOURCES,
        connect=(*STRIPE_CONNECT_SOURCES, sign_in_origin),
        frame=STRIPE_FRAME_SOURCES,
    )


def local_policy(stripe_origin: str) -> str:
    """The policy of the local gateway: localstripe serves Stripe.js and its API at one
    origin (``http://127.0.0.1:8420``); the sign-in is the gateway's own."""
    return content_security_policy(
        script=(stripe_origin,), connect=(stripe_origin,), frame=(stripe_origin,)
    )
