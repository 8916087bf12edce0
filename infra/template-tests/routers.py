"""The routes the family routers register, read from their source (`functions/<family>/src`):
what the template's API events (test_template.py) and the OpenAPI document (test_openapi.py)
are checked against."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]

ROUTE = re.compile(r'\.route\(\s*"([^"]+)",\s*([^)]*\)(?:\s*\.[a-z_]+\([^)]*\))*)')
METHOD = re.compile(r"\b(get|post|put|patch|delete)\(")


def routes_by_family():
    """{family (the crate's folder under functions/): {(method, path)}}."""
    families = {}
    for source in sorted((ROOT / "functions").glob("*/src/**/*.rs")):
        family = source.relative_to(ROOT / "functions").parts[0]
        for path, handlers in ROUTE.findall(source.read_text()):
            for method in METHOD.findall(handlers):
                # REST API resources have no trailing slash; API Gateway matches `/x/` to `/x`
                # and the router serves both forms.
                families.setdefault(family, set()).add((method.upper(), path.rstrip("/") or "/"))
    return families


def router_routes():
    """(method, path) pairs the family routers register."""
    return set().union(*routes_by_family().values())
