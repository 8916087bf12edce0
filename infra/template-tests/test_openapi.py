"""Keeps openapi.yaml honest: a valid OpenAPI 3.1 document that describes exactly the routes
the family routers register (routers.py reads them from functions/*/src), each tagged with
its family, authenticated, with its 4xx answers, and every answer with a JSON body schema
(204 No Content excepted) and the Server-Timing header every answer carries."""

import pytest
import yaml
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from routers import ROOT, routes_by_family, router_routes

DOCUMENT = ROOT / "openapi.yaml"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def document():
    return yaml.safe_load(DOCUMENT.read_text())


def operations(document):
    """((METHOD, path), operation) for every operation of the document."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield (method.upper(), path), operation


def resolve(document, reference):
    """The object a local `$ref` (`#/a/b`) points at, or a KeyError naming the part missing."""
    assert reference.startswith("#/"), f"not a local reference: {reference}"
    node = document
    for part in reference[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


def dereferenced(document, node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(document, node["$ref"])
    return node


def references(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def is_json(media_type):
    return media_type == "application/json" or media_type.endswith("+json")


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_the_document_serves_exactly_the_router_routes(document):
    documented = {route for route, _ in operations(document)}
    served = router_routes()
    assert documented - served == set(), "documented but not served"
    assert served - documented == set(), "served but not documented"


def test_each_operation_is_tagged_with_the_family_serving_it(document):
    family_of = {
        route: family for family, routes in routes_by_family().items() for route in routes
    }
    operation_ids = []
    for route, operation in operations(document):
        assert operation.get("tags") == [family_of[route]], route
        assert operation.get("operationId"), route
        operation_ids.append(operation["operationId"])
    assert len(operation_ids) == len(set(operation_ids)), "operationIds repeat"


def test_each_operation_is_authenticated_and_answers_4xx(document):
    schemes = document["components"]["securitySchemes"]
    for route, operation in operations(document):
        # Every route checks a credential; none is open (`security: []` would say so).
        requirements = operation.get("security", document.get("security"))
        assert requirements, f"{route} declares no security"
        for requirement in requirements:
            assert requirement, f"{route}: an empty requirement makes the route open"
            assert set(requirement) <= set(schemes), route
        statuses = set(operation["responses"])
        assert any(status.startswith("4") for status in statuses), f"{route}: no 4xx"
        assert "401" in statuses, f"{route}: authenticated routes answer 401"
        assert "500" in statuses and "503" in statuses, route


def test_each_answer_has_a_json_body_schema_and_server_timing(document):
    for route, operation in operations(document):
        for status, response in operation["responses"].items():
            response = dereferenced(document, response)
            where = f"{route} {status}"
            assert "Server-Timing" in response.get("headers", {}), where
            content = response.get("content", {})
            if status == "204":
                assert not content, f"{where}: 204 has no body"
                continue
            json_types = [media for media in content if is_json(media)]
            assert json_types, f"{where}: no JSON body"
            for media in json_types:
                assert "schema" in content[media], f"{where} {media}: no schema"
            # The only other body is axum's text answer to a path parameter that is not
            # UTF-8, on routes with path parameters.
            for media in set(content) - set(json_types):
                assert media == "text/plain" and status == "400" and "{" in route[1], where


def test_request_bodies_are_json_or_forms(document):
    for route, operation in operations(document):
        body = dereferenced(document, operation.get("requestBody", {}))
        for media in body.get("content", {}):
            assert is_json(media) or media == "application/x-www-form-urlencoded", (
                route, media)


def test_every_reference_resolves_and_every_component_is_used(document):
    used = set()
    for reference in references(document):
        resolve(document, reference)
        used.add(reference)
    for kind, components in document["components"].items():
        if kind == "securitySchemes":
            continue
        for name in components:
            assert f"#/components/{kind}/{name}" in used, f"unused component {kind}/{name}"
    named = {name for _, op in operations(document) for req in op["security"] for name in req}
    assert named == set(document["components"]["securitySchemes"]), "unused security scheme"
