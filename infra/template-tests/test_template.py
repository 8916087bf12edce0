"""Expands template.yaml with the SAM translator (offline) and checks what must hold for the
deployed stack: a PRIVATE REST API that denies every source but the VPC endpoint, the table's
durability settings, least-privilege roles, secrets from Secrets Manager, and an API event for
every route the family routers serve (and none they do not)."""

import copy
import pathlib
import re

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = pathlib.Path(__file__).resolve().parents[2]
PARAMETERS = {
    "VpcEndpointId": "vpce-0123456789abcdef0",
    "GitalySubnetIds": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
    "GitalySecurityGroupId": "sg-0123456789abcdef0",
    "ShellSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gitlab-shell-AbCdEf",
    "KasSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gitlab-kas-AbCdEf",
    "ErrorTrackingTokenArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:opstrace-AbCdEf",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "gitlab-internal-api",
}


class NoManagedPolicies:
    """The template names no managed policy, so nothing is looked up in IAM."""

    def load(self):
        return {}


@pytest.fixture(scope="module")
def source():
    return yaml_parse((ROOT / "template.yaml").read_text())


@pytest.fixture(scope="module")
def expanded(source):
    # What `sam package` does before CloudFormation sees the template: code goes to S3.
    packaged = copy.deepcopy(source)
    for resource in packaged["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/function.zip"
    return transform(packaged, PARAMETERS, NoManagedPolicies())


def resources_of(expanded, kind):
    return {name: r for name, r in expanded["Resources"].items() if r["Type"] == kind}


def test_the_api_is_private_to_the_vpc_endpoint(expanded):
    (api,) = resources_of(expanded, "AWS::ApiGateway::RestApi").values()
    endpoint = api["Properties"]["EndpointConfiguration"]
    assert endpoint["Types"] == ["PRIVATE"]
    assert endpoint["VpcEndpointIds"] == [{"Ref": "VpcEndpointId"}]

    statements = api["Properties"]["Body"]["x-amazon-apigateway-policy"]["Statement"]
    denies = [s for s in statements if s["Effect"] == "Deny"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert denies, "no Deny statement: any principal on any VPC endpoint could call the API"
    # One Deny must cover every resource for every source whose endpoint is not ours.
    covering = [
        d
        for d in denies
        if d.get("Condition", {}).get("StringNotEquals", {}).get("aws:SourceVpce")
        in ({"Ref": "VpcEndpointId"}, PARAMETERS["VpcEndpointId"])
        and all("execute-api:/*" in str(r) or r.endswith("/*") for r in as_list(d["Resource"]))
        and as_list(d["Action"]) == ["execute-api:Invoke"]
    ]
    assert covering, f"no Deny for other sources: {denies}"
    for allow in allows:
        assert as_list(allow["Action"]) == ["execute-api:Invoke"], allow


def as_list(value):
    return value if isinstance(value, list) else [value]


def test_the_table_is_durable_and_encrypted(source):
    table = source["Resources"]["Table"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_functions_are_arm64_al2023_with_secrets_from_secrets_manager(expanded):
    functions = resources_of(expanded, "AWS::Lambda::Function")
    assert functions
    for name, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "provided.al2023", name
        assert props["Architectures"] == ["arm64"], name
        variables = props["Environment"]["Variables"]
        assert variables["TABLE_NAME"] == {"Ref": "Table"}, name
        for key, value in variables.items():
            if "SECRET" in key:
                assert "resolve:secretsmanager" in str(value), f"{name}.{key} must come from Secrets Manager"


def test_roles_touch_only_the_table(expanded):
    for name, role in resources_of(expanded, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = as_list(statement["Action"])
                if any(a.startswith("dynamodb:") for a in actions):
                    assert as_list(statement["Resource"]) == [{"Fn::GetAtt": ["Table", "Arn"]}], name
                    assert "dynamodb:*" not in actions and "dynamodb:Scan" not in actions, name


def router_routes():
    """(method, path) pairs the family routers register."""
    routes = set()
    for lib in (ROOT / "functions").glob("*/src/**/*.rs"):
        text = lib.read_text()
        for path, handlers in re.findall(r'\.route\(\s*"([^"]+)",\s*([^)]*\)(?:\s*\.[a-z_]+\([^)]*\))*)', text):
            for method in re.findall(r"\b(get|post|put|patch|delete)\(", handlers):
                # REST API resources have no trailing slash; API Gateway matches `/x/` to `/x`
                # and the router serves both forms.
                routes.add((method.upper(), path.rstrip("/") or "/"))
    return routes


def template_routes(source):
    routes = set()
    for resource in source["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "Api":
                routes.add((event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
    return routes


def test_every_router_route_has_an_api_event_and_no_more(source, expanded):
    routes = router_routes()
    assert ("GET", "/api/v4/internal/check") in routes, routes
    assert template_routes(source) == routes
    (api,) = resources_of(expanded, "AWS::ApiGateway::RestApi").values()
    served = {
        (method.upper(), path)
        for path, methods in api["Properties"]["Body"]["paths"].items()
        for method in methods
    }
    assert served == routes


def test_the_admin_role_reaches_only_its_items(expanded):
    """The admin function reads the items authentication and namespace lookups need, and
    writes only the storage limit exclusions: every statement is limited by leading key."""
    role = resources_of(expanded, "AWS::IAM::Role")["AdminFunctionRole"]
    statements = [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if any(a.startswith("dynamodb:") for a in as_list(statement["Action"]))
    ]
    assert statements
    writes = {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"}
    for statement in statements:
        leading = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        if writes & set(as_list(statement["Action"])):
            assert sorted(leading) == ["STORAGE_EXCLUSION#*", "STORAGE_EXCLUSIONS"]
        else:
            assert "STORAGE_EXCLUSIONS" in leading and "PATTOKEN#*" in leading


def test_the_billing_role_reaches_only_its_items(expanded):
    """The billing function reads what authentication, namespace lookups and member counts
    need, and writes only the billing family's own items: every statement is limited by
    leading key."""
    role = resources_of(expanded, "AWS::IAM::Role")["BillingFunctionRole"]
    statements = [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if any(a.startswith("dynamodb:") for a in as_list(statement["Action"]))
    ]
    assert len(statements) == 2
    writes = {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"}
    own = ["GITLAB_SUBSCRIPTION#*", "ADD_ON_PURCHASE#*", "MINUTE_PACKS#*",
           "MINUTE_PACK_PURCHASE#*", "UPCOMING_RECONCILIATION#*"]
    for statement in statements:
        leading = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        if writes & set(as_list(statement["Action"])):
            assert sorted(leading) == sorted(own)
        else:
            assert sorted(leading) == sorted(
                ["PATTOKEN#*", "USER#*", "SETTINGS", "NAMESPACE#*", "ROUTE#*"] + own
            )


def test_the_scim_role_reaches_only_its_items(expanded):
    """The SCIM function reads what its checks, creates and filters need, and writes
    identities and the users it provisions: every statement is limited by leading key, and
    neither tokens, keys, projects nor billing items are writable."""
    role = resources_of(expanded, "AWS::IAM::Role")["ScimFunctionRole"]
    statements = [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if any(a.startswith("dynamodb:") for a in as_list(statement["Action"]))
    ]
    assert len(statements) == 2
    writes = {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"}
    for statement in statements:
        leading = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        assert "*" not in leading
        if writes & set(as_list(statement["Action"])):
            assert "SCIM#*" in leading
            for forbidden in ["SCIMTOKEN#*", "PATTOKEN#*", "KEY#*", "PROJECT#*", "SETTINGS"]:
                assert forbidden not in leading
        else:
            assert "SCIMTOKEN#*" in leading and "SCIM#*" in leading


def test_the_shell_function_runs_in_the_vpc_to_reach_gitaly(expanded):
    """`/allowed` asks Gitaly over gRPC: the shell function runs in the given subnets with the
    given security group; the others need no VPC."""
    functions = resources_of(expanded, "AWS::Lambda::Function")
    vpc = functions["ShellFunction"]["Properties"]["VpcConfig"]
    assert vpc["SubnetIds"] == {"Ref": "GitalySubnetIds"}
    assert vpc["SecurityGroupIds"] == [{"Ref": "GitalySecurityGroupId"}]
    for name, function in functions.items():
        if name != "ShellFunction":
            assert "VpcConfig" not in function["Properties"], name


def test_every_function_has_reserved_concurrency_leaving_room_for_the_account(source):
    """A flood on one family cannot starve another (GitLab Shell above all): each function
    reserves its share, and the shares leave the account's unreserved minimum (100 of the
    default 1,000) free."""
    reserved = {
        name: resource["Properties"]["ReservedConcurrentExecutions"]
        for name, resource in source["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert reserved["ShellFunction"] == max(reserved.values())
    assert all(share > 0 for share in reserved.values()), reserved
    assert sum(reserved.values()) <= 900, reserved


def test_method_throttles_name_served_routes(source):
    """Each stricter stage throttle names a method the API serves (a typo would throttle
    nothing)."""
    (api,) = [r for r in source["Resources"].values() if r["Type"] == "AWS::Serverless::Api"]
    routes = template_routes(source)
    for setting in api["Properties"]["MethodSettings"]:
        if setting["ResourcePath"] == "/*":
            continue
        path = setting["ResourcePath"][1:].replace("~1", "/")
        assert (setting["HttpMethod"], path) in routes, setting
