"""moto's DynamoDB-wire server with each request applied atomically.

DynamoDB applies every request (an UpdateItem's ADD, a condition and its write, a whole
TransactWriteItems) as one indivisible step. moto's threaded server does not lock its
in-memory tables, so two concurrent ADDs on one item can lose an update there that DynamoDB
would never lose. Serialising requests behind one lock gives the tests DynamoDB's guarantee
while connections are still accepted concurrently.

Usage: python infra/dynamodb_emulator.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def one_request_at_a_time(app):
    lock = threading.Lock()

    def serialised(environ, start_response):
        with lock:
            # Drain the body inside the lock: moto builds it from the tables it just changed.
            return [b"".join(app(environ, start_response))]

    return serialised


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        host,
        port,
        one_request_at_a_time(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
