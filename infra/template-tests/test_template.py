"""Expands template.yaml with the SAM translator (offline) and checks what must hold for the
deployed stack: a PRIVATE REST API that denies every source but the VPC endpoint, the table's
durability settings, secrets from Secrets Manager, access logs that carry no credential, and an
API event for every route the family routers serve (and none they do not). Least-privilege
roles (each function's DynamoDB statements against the partitions shared/store/src/keys.rs
builds) are test_iam.py's; the fixtures are in conftest.py."""

import json
import re

from routers import router_routes
from sam_template import PARAMETERS, ROOT, as_list, resources_of
from test_iam import SECRETS


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
        # A secret's value never sits in the configuration (lambda:GetFunctionConfiguration
        # would show it): only the ARN the function reads it from at run time.
        assert "resolve:secretsmanager" not in json.dumps(props), name
        named = {key: value for key, value in variables.items() if key.endswith("_ARN")}
        for key, value in variables.items():
            if any(word in key for word in ("SECRET", "TOKEN")) and not key.startswith("PARAMETERS_SECRETS_"):
                assert key in named, f"{name}.{key} must name a secret, not hold one"
        assert {value["Ref"] for value in named.values()} == SECRETS.get(name, set()), name
        if named:
            assert props["Layers"] == [{"Ref": "SecretsExtensionLayerArn"}], name
            assert variables["PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED"] == "false", name


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


# --- Access logs -----------------------------------------------------------------------------

# What every access log line carries: who called through which VPC endpoint, the route (the
# resource template, not the raw path), the outcome and the latencies.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "vpceId": "$context.identity.vpceId",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "protocol": "$context.protocol",
}


def test_the_stage_writes_json_access_logs_without_credentials(expanded):
    """The stage logs each request as one JSON object to the API's own log group; no field
    can carry a token: nothing from the query string, a header, a body, an override or the
    raw path. Execution logging (which would log headers and bodies) stays off."""
    (stage,) = resources_of(expanded, "AWS::ApiGateway::Stage").values()
    setting = stage["Properties"]["AccessLogSetting"]
    assert setting["DestinationArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${InternalApiAccessLogs}"
    }
    line = json.loads(setting["Format"])
    for field, variable in ACCESS_LOG_FIELDS.items():
        assert line.get(field) == variable, field
    for field, value in line.items():
        # Each field is one context variable, so the line stays valid JSON whatever it holds.
        assert re.fullmatch(r"\$context\.[A-Za-z]+(\.[A-Za-z]+)*", value), (field, value)
        lowered = value.lower()
        for forbidden in ["override", "query", "header", "body", "input", "useragent",
                          "authorizer", "apikey", "caller", "user"]:
            assert forbidden not in lowered, (field, value)
        assert value != "$context.path", "the raw path, not the resource template"
    for method in stage["Properties"].get("MethodSettings", []):
        assert method.get("LoggingLevel", "OFF") == "OFF", method
        assert not method.get("DataTraceEnabled", False), method


def test_the_access_log_group_has_retention_and_the_account_can_log(source):
    """The access log group keeps its lines for LogRetentionDays, encrypted with a KMS key when
    one is given. API Gateway needs the account's CloudWatch Logs role to write them: the stack
    sets one (kept on deletion) unless told the account has one, and the API waits for it."""
    resources = source["Resources"]
    group = resources["InternalApiAccessLogs"]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert group["Properties"]["KmsKeyId"] == {
        "Fn::If": ["HasAccessLogsKmsKey", {"Ref": "AccessLogsKmsKeyArn"}, {"Ref": "AWS::NoValue"}]
    }
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Logs::LogGroup":
            assert "RetentionInDays" in resource["Properties"], name

    role = resources["ApiGatewayCloudWatchLogsRole"]
    account = resources["ApiGatewayAccount"]
    assert role["Condition"] == account["Condition"] == "CreatesApiGatewayCloudWatchRole"
    assert role["DeletionPolicy"] == "Retain"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert role["Properties"]["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}
    ]
    assert "Policies" not in role["Properties"]
    assert account["Properties"]["CloudWatchRoleArn"] == {
        "Fn::GetAtt": ["ApiGatewayCloudWatchLogsRole", "Arn"]
    }
    ready = resources["ApiGatewayAccountReady"]
    assert ready["Metadata"]["Account"]["Fn::If"][:2] == [
        "CreatesApiGatewayCloudWatchRole", {"Ref": "ApiGatewayAccount"}
    ]
    assert resources["InternalApi"]["DependsOn"] == "ApiGatewayAccountReady"


def test_the_functions_are_built_to_survive_a_panic():
    """A handler panic must answer 500 and leave the sandbox serving (gl_http's
    catch_panics), which needs the release profile to unwind: `abort` would kill the process
    with every request it holds."""
    import tomllib

    profile = tomllib.loads((ROOT / "Cargo.toml").read_text())["profile"]["release"]
    assert profile["panic"] == "unwind"
    assert profile["lto"] is True and profile["strip"] is True
