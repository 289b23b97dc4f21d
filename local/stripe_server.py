"""localstripe, bound to the loopback interface, its state in memory only.

``localstripe --from-scratch`` listens on every interface and rewrites
``/tmp/localstripe.pickle`` on each change, a file a second local stack would share.
Run as ``python -m local.stripe_server PORT``.
"""

from __future__ import annotations

import logging
import sys

from aiohttp import web
from localstripe import resources
from localstripe.server import app


def main(argv: list[str]) -> int:
    port = int(argv[1])
    resources.Store.dump_to_disk = lambda self: None
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    web.run_app(app, host="127.0.0.1", port=port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
