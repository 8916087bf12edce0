"""moto's DynamoDB-wire server with each request applied atomically.

DynamoDB applies every request (an UpdateItem's ADD, a condition and its write, a whole
TransactWriteItems) as one indivisible step. moto's threaded server does not lock its
in-memory tables, so two concurrent ADDs on one item can lose an update there that DynamoDB
would never lose. Requests are therefore serialised per table: the tests, which give every
test its own table, still run side by side, and one test's large request never delays another
test's (the SDK would time the waiting request out and retry one that already took effect).

Usage: python infra/dynamodb_emulator.py HOST PORT
"""

import io
import json
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def tables_named(body: bytes) -> list[str]:
    """The tables a DynamoDB JSON request touches, sorted (so locks are taken in one order)."""
    try:
        return _tables_in(json.loads(body or b"{}"))
    except Exception:  # malformed input is moto's to refuse, under the global lock
        return []


def _tables_in(request) -> list[str]:
    if not isinstance(request, dict):
        return []
    names = set()
    if isinstance(request.get("TableName"), str):
        names.add(request["TableName"])
    for batch in ("RequestItems",):
        if isinstance(request.get(batch), dict):
            names.update(request[batch].keys())
    for item in request.get("TransactItems") or []:
        if isinstance(item, dict):
            for operation in item.values():
                if isinstance(operation, dict) and isinstance(operation.get("TableName"), str):
                    names.add(operation["TableName"])
    return sorted(names)


def one_request_at_a_time_per_table(app):
    guard = threading.Lock()
    locks: dict[str, threading.Lock] = {}
    global_lock = threading.Lock()

    def lock_for(name: str) -> threading.Lock:
        with guard:
            return locks.setdefault(name, threading.Lock())

    def serialised(environ, start_response):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length:
            body = environ["wsgi.input"].read(length)
        elif environ.get("wsgi.input_terminated"):
            # A chunked body: read it whole and hand it on with its length.
            body = environ["wsgi.input"].read()
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        held = [lock_for(name) for name in tables_named(body)] or [global_lock]
        for lock in held:
            lock.acquire()
        try:
            # Drain the body inside the locks: moto builds it from the tables it just changed.
            return [b"".join(app(environ, start_response))]
        finally:
            for lock in reversed(held):
                lock.release()

    return serialised


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        host,
        port,
        one_request_at_a_time_per_table(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
