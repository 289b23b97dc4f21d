"""moto's server, with DynamoDB requests applied atomically (``local.moto_atomic``).

The local stack serves concurrent invocations (API requests, stream batches), so the
emulator must not interleave one request's condition check and write with another's.
Run as ``python -m local.moto_server HOST PORT``.
"""

from __future__ import annotations

import sys

from moto import server

from local.moto_atomic import make_dynamodb_atomic


def main(argv: list[str]) -> int:
    host, port = argv[1], argv[2]
    make_dynamodb_atomic()
    server.main(["-H", host, "-p", port])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
