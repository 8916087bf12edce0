"""moto's DynamoDB-wire server with each request applied atomically.

DynamoDB applies every request (an UpdateItem's ADD, a condition and its write, a whole
TransactWriteItems) as one indivisible step. moto's threaded server does not lock its
in-memory tables, so two concurrent ADDs on one item can lose an update there that DynamoDB
would never lose. Requests are therefore serialised per table: the tests, which give every
test its own table, still run side by side, and one test's large request never delays another
test's (the SDK would time the waiting request out and retry one that already took effect).

moto also keeps a copy of every table a transaction touches, for every item of the
transaction, to roll back a cancelled one: its cost grows with the table, and provisioning a
hundred thousand records through it never ends. Here a transaction keeps copies of the items it
names instead, which is all a rollback needs (a transaction changes nothing else).

DynamoDB answers a TransactWriteItems that repeats a ClientRequestToken it saw succeed in the
last ten minutes without applying it again (and refuses the token with other parameters);
moto ignores the token. The SDK keeps one token across its retries, so a retry after a lost
answer must not apply twice here either: answers are kept by token.

Usage: python infra/dynamodb_emulator.py HOST PORT
"""

import copy
import io
import json
import sys
import threading
import time

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

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


TRANSACT_WRITE_ITEMS = "DynamoDB_20120810.TransactWriteItems"
IDEMPOTENCY_WINDOW_SECONDS = 600


class TransactionTokens:
    """Successful TransactWriteItems answers by ClientRequestToken, for DynamoDB's idempotency.
    Used under the locks of the tables the transaction names, so a repeat waits for the first."""

    def __init__(self):
        self._guard = threading.Lock()
        self._answers: dict[str, tuple[float, str, str, list, bytes]] = {}

    @staticmethod
    def token_and_parameters(environ, body: bytes):
        if environ.get("HTTP_X_AMZ_TARGET") != TRANSACT_WRITE_ITEMS:
            return None, None
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return None, None
        if not isinstance(request, dict) or not isinstance(request.get("ClientRequestToken"), str):
            return None, None
        token = request.pop("ClientRequestToken")
        return token, json.dumps(request, sort_keys=True)

    def answer(self, token: str):
        with self._guard:
            now = time.monotonic()
            expired = [
                token
                for token, kept in self._answers.items()
                if now - kept[0] > IDEMPOTENCY_WINDOW_SECONDS
            ]
            for stale in expired:
                del self._answers[stale]
            return self._answers.get(token)

    def keep(self, token: str, parameters: str, status: str, headers: list, body: bytes) -> None:
        with self._guard:
            self._answers[token] = (time.monotonic(), parameters, status, headers, body)


def idempotent_parameter_mismatch(start_response):
    body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
            "message": "Request parameters do not match the original request for this client request token",
        }
    ).encode()
    start_response(
        "400 Bad Request",
        [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))],
    )
    return [body]


def one_request_at_a_time_per_table(app):
    guard = threading.Lock()
    tokens = TransactionTokens()
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
            token, parameters = tokens.token_and_parameters(environ, body)
            if token is not None:
                kept = tokens.answer(token)
                if kept is not None:
                    _, kept_parameters, status, headers, answer = kept
                    if kept_parameters != parameters:
                        return idempotent_parameter_mismatch(start_response)
                    start_response(status, headers)
                    return [answer]
            answered = {}

            def remember(status, headers, exc_info=None):
                answered["status"], answered["headers"] = status, list(headers)
                return start_response(status, headers, exc_info)

            # Drain the body inside the locks: moto builds it from the tables it just changed.
            answer = b"".join(app(environ, remember))
            if token is not None and answered.get("status", "").startswith("200"):
                tokens.keep(token, parameters, answered["status"], answered["headers"], answer)
            return [answer]
        finally:
            for lock in reversed(held):
                lock.release()

    return serialised


_rolling_back_items = threading.local()


def _table_copy(table: Table, memo: dict) -> Table:
    """A deep copy of a table, except inside a transaction, whose own item copies stand in
    for it: there moto's whole-table "copy" is the table itself, and restoring it changes
    nothing."""
    if getattr(_rolling_back_items, "active", False):
        return table
    duplicate = Table.__new__(Table)
    memo[id(table)] = duplicate
    for name, value in table.__dict__.items():
        setattr(duplicate, name, copy.deepcopy(value, memo))
    return duplicate


def _named_items(backend: DynamoDBBackend, transact_items: list) -> list:
    """(table, hash, range) of every item a transaction names, in the table's key types."""
    named = []
    for entry in transact_items:
        for operation in entry.values():
            table = backend.tables.get(operation.get("TableName"))
            key = operation.get("Key") or operation.get("Item")
            if table is None or not isinstance(key, dict):
                continue
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            named.append((table, hash_value, range_value))
    return named


def _stored(table: Table, hash_value, range_value):
    holder = table.items.get(hash_value)
    if range_value is None:
        return holder
    return holder.get(range_value) if holder else None


def _restore(table: Table, hash_value, range_value, item) -> None:
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    holder = table.items[hash_value]
    if item is None:
        holder.pop(range_value, None)
        if not holder:
            table.items.pop(hash_value, None)
    else:
        holder[range_value] = item


def transactions_copy_only_their_items() -> None:
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        named = _named_items(self, transact_items)
        kept = [(where, copy.deepcopy(_stored(*where))) for where in named]
        _rolling_back_items.active = True
        try:
            return original(self, transact_items)
        except Exception:
            for (table, hash_value, range_value), item in reversed(kept):
                _restore(table, hash_value, range_value, item)
            raise
        finally:
            _rolling_back_items.active = False

    Table.__deepcopy__ = _table_copy
    DynamoDBBackend.transact_write_items = transact_write_items


def main() -> None:
    transactions_copy_only_their_items()
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
