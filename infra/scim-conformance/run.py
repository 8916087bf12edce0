#!/usr/bin/env python3
"""SCIM 2.0 conformance run of one SCIM base URL with scim2-tester.

Usage (deps: ``pip install -r infra/scim-conformance/requirements.txt``, Python >= 3.11):

    python infra/scim-conformance/run.py \
        --base-url http://127.0.0.1:PORT/api/scim/v2/groups/group --token scim-group

Prints one line per check result and exits 1 if any selected check fails (ERROR or
CRITICAL) or if a required check did not run at all (e.g. discovery broke and the
tester stopped before the /Users checks).

Selected (scim2-tester tags ``discovery``, ``crud:create``, ``crud:read``,
``patch:replace``, restricted to the ``User`` resource type):
  * GET /ServiceProviderConfig, /ResourceTypes, /ResourceTypes/{id}, /Schemas,
    /Schemas/{id}, schema of each resource type reachable, 404 SCIM Error for
    unknown ids, 405 for POST/PUT/PATCH/DELETE on the discovery endpoints;
  * POST /Users, GET /Users/{id}, GET /Users (new user must be listed);
  * PATCH replace of every readWrite attribute that /Schemas publishes for User;
plus two checks of ours (tag ``extra``) the tester does not have:
  * ``query_with_filter``: GET /Users?filter=userName eq "..." finds the new user;
  * ``patch_active_false_true``: PATCH replace active false then true, verified by GET.

Skipped, and why:
  * ``crud:update`` (PUT replace): we do not implement PUT.
  * ``crud:delete``: our DELETE deactivates (resource stays with active=false), the
    tester expects a 404 afterwards.
  * ``patch:add`` / ``patch:remove``: only replace is in scope; unsupported
    attributes are accepted and ignored, which these checks would flag.
  * ``crud:read:attributes``: ``attributes``/``excludedAttributes`` and POST /.search
    are not implemented.
  * ``misc`` (GET of a random URL must answer a SCIM 404 Error): not in scope.
  * Groups: ``resource_types=["User"]``; our /ResourceTypes should not publish Group.
  * bulk, sort, etag, changePassword: the tester has no checks for them; it only reads
    ServiceProviderConfig.patch.supported (and etag.supported in the client), so the
    server must publish those four as ``supported: false``.
``--skip TITLE`` waives a check by name (its results are reported as SKIPPED).

What the tester sends is driven by the server's /Schemas (it builds the User model from
it): POST fills only attributes published ``required: true`` (and their required
sub-attributes); patch:replace PATCHes every top-level attribute published
``mutability: readWrite`` (externalId included, even if unpublished) with random
values and expects the response and a later GET to return them exactly. So publish as
``immutable`` anything that does not round-trip that way (see the harness notes).
"""

import argparse
import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import ListResponse
from scim2_models import PatchOp
from scim2_models import PatchOperation
from scim2_models import SearchRequest
from scim2_tester import CheckConfig
from scim2_tester import Status
from scim2_tester import check_server
from scim2_tester.utils import CheckContext
from scim2_tester.utils import check_result
from scim2_tester.utils import checker

INCLUDE_TAGS = {"discovery", "crud:create", "crud:read", "patch:replace", "extra"}
# Do NOT pass exclude_tags: in scim2-tester 0.5.2 any exclude set also skips the checks
# tagged "*" (the /ServiceProviderConfig, /ResourceTypes, /Schemas queries), and then
# nothing else runs. "crud:read" does not select "crud:read:attributes" (exact match).
RESOURCE_TYPES = ["User"]
REQUIRED = [  # each must run and succeed at least once
    "service_provider_config_endpoint", "query_all_resource_types",
    "query_resource_type_by_id", "resource_types_schema_validation",
    "query_all_schemas", "access_schema_by_id", "object_creation", "object_query",
    "object_query_without_id", "check_replace_attribute", "query_with_filter",
    "patch_active_false_true",
]
FAILING = {Status.ERROR, Status.CRITICAL}


@checker("extra")
def query_with_filter(context, model):
    """GET /Users?filter=userName eq "<new user>" returns that user and only users with that userName."""
    user = context.resource_manager.create_and_register(model)
    response = context.client.query(
        model, query_parameters=SearchRequest(filter=f'userName eq "{user.user_name}"'),
        expected_status_codes=[200])
    found = (response.resources or []) if isinstance(response, ListResponse) else []
    ok = any(r.id == user.id for r in found) and all(
        r.user_name.lower() == user.user_name.lower() for r in found)
    return [check_result(context, Status.SUCCESS if ok else Status.ERROR,
                         reason=f"filter userName eq {user.user_name!r} returned "
                                f"{[r.id for r in found]}, expected [{user.id!r}]",
                         data=response)]


@checker("extra")
def patch_active_false_true(context, model):
    """PATCH replace active=false then active=true; each value is read back with GET /Users/{id}."""
    user = context.resource_manager.create_and_register(model)
    results = []
    for value in (False, True):
        op = PatchOp[model](operations=[PatchOperation(
            op=PatchOperation.Op.replace_, path="active", value=value)])
        context.client.modify(model, user.id, op)
        got = context.client.query(model, user.id, expected_status_codes=[200]).active
        results.append(check_result(
            context, Status.SUCCESS if got is value else Status.ERROR,
            reason=f"after replace active={value}, GET returned active={got}"))
    return results


def run(base_url, token, skip):
    http = httpx2.Client(base_url=base_url, timeout=30,
                         headers={"Authorization": f"Bearer {token}"})
    client = SyncSCIMClient(http)
    results = check_server(client, include_tags=INCLUDE_TAGS, resource_types=RESOURCE_TYPES)
    # check_server has registered what discovery found on the client; run our extras.
    context = CheckContext(client, CheckConfig(include_tags=INCLUDE_TAGS))
    user_type = next((rt for rt in client.provider.resource_types or []
                      if rt.name == "User"), None)
    model = client.provider.model_for(user_type) if user_type else None
    if model:
        for extra in (query_with_filter, patch_active_false_true):
            for r in extra(context, model):
                r.resource_type = "User"
                results.append(r)
    for r in results:
        if r.title in skip:
            r.status, r.reason = Status.SKIPPED, f"waived by --skip ({r.reason})"
    return results


def report(results, skip=frozenset()):
    failed = [r for r in results if r.status in FAILING]
    for r in results:
        mark = "FAIL" if r in failed else r.status.name
        print(f"{mark:<10} {r.resource_type or '-':<5} {r.title}: {r.reason or ''}")
        if r in failed and r.data is not None:
            print(f"{'':16}data: {str(r.data)[:400]}")
    ran_ok = {r.title for r in results if r.status not in FAILING | {Status.SKIPPED}}
    missing = [t for t in REQUIRED
               if t not in ran_ok | skip and t not in {r.title for r in failed}]
    print(f"\n{len(results)} results: {len(failed)} failed, "
          f"{sum(r.status == Status.SKIPPED for r in results)} skipped")
    for t in missing:
        print(f"FAIL: required check {t} did not run or was skipped by the tester")
    return 1 if failed or missing else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True,
                        help="SCIM base URL, e.g. http://127.0.0.1:8080/api/scim/v2/groups/group")
    parser.add_argument("--token", required=True, help="bearer token")
    parser.add_argument("--skip", action="append", default=[], metavar="TITLE",
                        help="waive a check by name (repeatable)")
    args = parser.parse_args(argv)
    skip = set(args.skip)
    return report(run(args.base_url.rstrip("/"), args.token, skip), skip)


if __name__ == "__main__":
    sys.exit(main())
