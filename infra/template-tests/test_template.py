"""Expands template.yaml with the SAM translator (offline) and checks what must hold for the
deployed stack: a PRIVATE REST API that denies every source but the VPC endpoint, the table's
durability settings, least-privilege roles (each function's DynamoDB statements against the
partitions shared/store/src/keys.rs builds), secrets from Secrets Manager, access logs that
carry no credential, and an API event for every route the family routers serve (and none they
do not)."""

import copy
import json
import os
import pathlib
import re

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Another template can be checked with the same tests (an older one, say:
# `TEMPLATE=<(git show HEAD:template.yaml) pytest infra/template-tests`).
TEMPLATE = pathlib.Path(os.environ.get("TEMPLATE", ROOT / "template.yaml"))
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
    return yaml_parse(TEMPLATE.read_text())


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


# --- Least privilege: every function's DynamoDB access, against the key module ------------
#
# `shared/store/src/keys.rs` is the only place that builds a partition key. It is parsed for
# every kind of partition it builds, as the `dynamodb:LeadingKeys` pattern that matches
# exactly that kind (`USER#*` for `format!("USER#{id}")`, `SETTINGS` for a literal). Every
# function's role is then held to GRANTS below, statement for statement: a new item kind, a
# wider policy or a stale prefix fails here until the table is changed deliberately.

KEYS_RS = ROOT / "shared" / "store" / "src" / "keys.rs"

GET = ("dynamodb:GetItem", "dynamodb:BatchGetItem")
QUERY = ("dynamodb:Query",)
PUT = ("dynamodb:PutItem",)
UPDATE = ("dynamodb:UpdateItem",)
DELETE = ("dynamodb:DeleteItem",)

READ_ACTIONS = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
# What a `TransactWriteItems` is authorized as, item by item, besides the single-item writes.
WRITE_ACTIONS = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
}

# Every function's DynamoDB access, as the statements of its role: (actions, leading keys).
# Worked out from the code each router reaches (functions/<family>/src, shared/http,
# shared/store/src/repo) over the port's DynamoDB calls (shared/store/src/dynamodb.rs):
# `get_many` is GetItem for one key and BatchGetItem for more; `query` is Query; a write of one
# op is PutItem, UpdateItem or DeleteItem, of several a TransactWriteItems authorized item by
# item; a single update whose guard finds the item expired reads it (GetItem) and puts a
# fresh one (PutItem); `ping` is a GetItem of the settings. Nothing uses a condition check.
# A batch read mixes kinds, so each function reads through one GetItem/BatchGetItem statement.
GRANTS = {
    "ShellFunction": {
        "reads": [
            (GET, {"SETTINGS", "KEY#*", "KEYFP#*", "USER#*", "USERNAME#*", "ROUTE#*",
                   "PROJECT#*", "NAMESPACE#*", "REFCOUNT#*"}),
        ],
        "writes": [
            (PUT, {"LFSTOKEN#*", "RECOVERY#*", "PAT#*", "PATTOKEN#*", "REFCOUNT#*"}),
            (UPDATE, {"REFCOUNT#*"}),
        ],
    },
    "ErrorTrackingFunction": {
        "reads": [(GET, {"PROJECT#*"})],
        "writes": [],
    },
    "KasFunction": {
        "reads": [
            (GET, {"AGENTTOKEN#*", "SETTINGS", "PROJECT#*", "ROUTE#*", "AGENT#*",
                   "AGENT_STATE#*", "PATTOKEN#*", "USER#*", "NAMESPACE#*"}),
        ],
        "writes": [
            (PUT, {"AGENT_STATE#*"}),
            (UPDATE, {"KAS#METRICS"}),
        ],
    },
    "AdminFunction": {
        "reads": [
            (GET, {"PATTOKEN#*", "USER#*", "SETTINGS", "NAMESPACE#*", "ROUTE#*",
                   "STORAGE_EXCLUSIONS", "STORAGE_EXCLUSION#*"}),
            (QUERY, {"STORAGE_EXCLUSIONS"}),
        ],
        "writes": [
            (PUT + DELETE, {"STORAGE_EXCLUSIONS", "STORAGE_EXCLUSION#*"}),
        ],
    },
    "BillingFunction": {
        "reads": [
            (GET, {"PATTOKEN#*", "USER#*", "SETTINGS", "NAMESPACE#*", "ROUTE#*",
                   "GITLAB_SUBSCRIPTION#*", "ADD_ON_PURCHASE#*", "MINUTE_PACKS#*",
                   "MINUTE_PACK_PURCHASE#*"}),
            (QUERY, {"NAMESPACE#*", "MINUTE_PACKS#*"}),
        ],
        "writes": [
            (PUT, {"GITLAB_SUBSCRIPTION#*", "ADD_ON_PURCHASE#*", "MINUTE_PACKS#*",
                   "MINUTE_PACK_PURCHASE#*", "UPCOMING_RECONCILIATION#*"}),
            (DELETE, {"MINUTE_PACKS#*", "UPCOMING_RECONCILIATION#*"}),
        ],
    },
    "ScimFunction": {
        "reads": [
            (GET, {"SCIMTOKEN#*", "SCIM#GROUP#*", "SCIM#INSTANCE", "ROUTE#*", "USERNAME#*",
                   "EMAIL#*", "SEQUENCE#USER", "SEQUENCE#NAMESPACE"}),
            (QUERY, {"SCIM#GROUP#*", "SCIM#INSTANCE", "NAMESPACE#*"}),
        ],
        "writes": [
            (PUT, {"SCIM#GROUP#*", "SCIM#INSTANCE", "USER#*", "USERNAME#*", "EMAIL#*",
                   "ROUTE#*", "NAMESPACE#*", "SEQUENCE#USER", "SEQUENCE#NAMESPACE"}),
            (UPDATE, {"NAMESPACE#*", "USER#*"}),
            (DELETE, {"SCIM#GROUP#*", "SCIM#INSTANCE", "NAMESPACE#*"}),
        ],
    },
}

# Partitions of who may do what (`repo/identity.rs`): a function able to write one could make
# a user an admin, hand itself a key, a project or an agent, or repoint a route.
IDENTITY = {
    "USER#*", "USERNAME#*", "EMAIL#*", "KEY#*", "KEYFP#*", "NAMESPACE#*", "ROUTE#*",
    "PROJECT#*", "AGENT#*", "AGENTTOKEN#*", "PAT#*", "PATTOKEN#*", "SCIMTOKEN#*",
    "SEQUENCE#USER", "SEQUENCE#NAMESPACE", "SETTINGS",
}
# The only identity writes any function makes: SCIM provisions users (with their lookups,
# personal namespaces, routes and group memberships); GitLab Shell's personal_access_token
# command creates a token for the SSH user (the token and its digest lookup).
IDENTITY_WRITERS = {
    "ScimFunction": {"USER#*", "USERNAME#*", "EMAIL#*", "ROUTE#*", "NAMESPACE#*",
                     "SEQUENCE#USER", "SEQUENCE#NAMESPACE"},
    "ShellFunction": {"PAT#*", "PATTOKEN#*"},
}

# Kinds the key module builds that no function reaches, and why.
NOT_SERVED = {
    "META": "the seed import's marker: written by `local-api import-seed`, never by a function",
}


def strip_comments(text):
    """Rust source without `//` comments (strings kept: a `//` inside one is not a comment)."""
    out, i, in_string = [], 0, False
    while i < len(text):
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            i = text.find("\n", i)
            if i < 0:
                break
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def balanced(text, start):
    """The index just past the bracket closing the one at `start`, skipping strings."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    stack, i, in_string = [], start, False
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in pairs:
            stack.append(pairs[c])
        elif c in ")}]":
            assert stack and stack.pop() == c, f"unbalanced {c!r} at {i}"
            if not stack:
                return i + 1
        i += 1
    raise AssertionError(f"no closing bracket for {text[start]!r} at {start}")


def split_top_level(text, separator=","):
    """`text` split at the separators outside brackets and strings."""
    parts, depth, current, i, in_string = [], 0, [], 0, False
    while i < len(text):
        c = text[i]
        if in_string:
            current.append(c)
            if c == "\\":
                current.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            current.append(c)
        elif c in "([{":
            depth += 1
            current.append(c)
        elif c in ")]}":
            depth -= 1
            current.append(c)
        elif depth == 0 and text.startswith(separator, i):
            parts.append("".join(current).strip())
            current = []
            i += len(separator)
            continue
        else:
            current.append(c)
        i += 1
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def key_module(text):
    """The functions (name -> (return type, body)) and string constants of keys.rs, its
    tests left out."""
    code = strip_comments(text.split("#[cfg(test)]")[0])
    consts = dict(re.findall(r'\bconst\s+([A-Z][A-Z0-9_]*)\s*:\s*&str\s*=\s*"([^"]*)"\s*;', code))
    functions = {}
    for header in re.finditer(r"\bfn\s+(\w+)\s*(?:<[^>]*>)?\s*\(", code):
        after_args = balanced(code, header.end() - 1)
        body_start = code.index("{", after_args)
        returns = re.search(r"->\s*([\w:]+)", code[after_args:body_start])
        body = code[body_start + 1 : balanced(code, body_start) - 1].strip()
        functions[header.group(1)] = (returns.group(1) if returns else None, body)
    return functions, consts


def partition_patterns(text):
    """Every partition key keys.rs builds, as {leading-key pattern: the functions that build
    it}. Understands the forms the module uses; anything else fails loudly, so that a new
    form is taught here rather than missed."""
    functions, consts = key_module(text)

    def resolve(expr, seen):
        expr = expr.strip()
        if m := re.fullmatch(r'format!\(\s*"((?:[^"\\]|\\.)*)"\s*(?:,.*)?\)', expr, re.S):
            template = m.group(1)
            assert "{{" not in template, f"escaped brace in a partition key: {expr}"
            if "{" not in template:
                return {template}
            prefix = template[: template.index("{")]
            assert prefix, f"a partition key must start with a fixed prefix: {expr}"
            return {prefix + "*"}
        if m := re.fullmatch(r'"([^"\\]*)"\s*\.\s*(?:to_owned|to_string|into)\(\)', expr):
            return {m.group(1)}
        if m := re.fullmatch(r'String::from\(\s*"([^"\\]*)"\s*\)', expr):
            return {m.group(1)}
        if m := re.fullmatch(r"([A-Z][A-Z0-9_]*)\s*\.\s*(?:to_owned|to_string|into)\(\)", expr):
            assert m.group(1) in consts, f"unknown constant in a partition key: {expr}"
            return {consts[m.group(1)]}
        if m := re.fullmatch(r"(\w+)\s*\((.*)\)\s*\.\s*pk", expr, re.S):
            return key_pk(m.group(1), seen)
        if m := re.fullmatch(r"(\w+)\s*\((.*)\)", expr, re.S):
            return string_fn(m.group(1), seen)
        raise AssertionError(f"keys.rs builds a partition key in a form this test does not read: {expr}")

    def key_pk(name, seen):
        assert name not in seen, f"recursion through {name}"
        returns, body = functions[name]
        assert returns == "Key", f"{name} is used as a Key but returns {returns}"
        calls = list(re.finditer(r"\bKey::new\s*\(", body))
        assert calls, f"{name} returns a Key without Key::new: {body}"
        patterns = set()
        for call in calls:
            args = split_top_level(body[call.end() : balanced(body, call.end() - 1) - 1])
            assert len(args) == 2, f"Key::new takes a partition and a sort key: {args}"
            patterns |= resolve(args[0], seen | {name})
        return patterns

    def string_fn(name, seen):
        assert name not in seen, f"recursion through {name}"
        returns, body = functions.get(name, (None, ""))
        assert returns == "String", f"{name} builds a partition key but returns {returns}"
        if m := re.match(r"match\b[^{]*\{", body):
            arms = split_top_level(body[m.end() : balanced(body, m.end() - 1) - 1])
            return set().union(*(resolve(arm.split("=>", 1)[1], seen | {name}) for arm in arms))
        return resolve(body, seen | {name})

    kinds = {}
    for name, (returns, _) in functions.items():
        if returns == "Key":
            found = key_pk(name, set())
        elif returns == "String" and name.endswith("_sk_prefix"):
            # A sort-key prefix (what a query of one partition asks for): no partition.
            continue
        elif returns == "String":
            assert name.endswith("_partition"), (
                f"keys.rs fn {name} returns a String that is no partition (name it *_partition "
                "or teach this test what it is)"
            )
            found = string_fn(name, set())
        else:
            continue
        for pattern in found:
            kinds.setdefault(pattern, set()).add(name)
    return kinds


@pytest.fixture(scope="module")
def kinds():
    return partition_patterns(KEYS_RS.read_text())


def glob_matches(pattern, value):
    """IAM's StringLike: `*` any run of characters, `?` any one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.S) is not None


def example_key(pattern):
    return pattern[:-1] + "x" if pattern.endswith("*") else pattern


def leading_keys(statement):
    """The partitions a statement reaches: its leading-key patterns, or all (`*`) when it is
    not limited by leading key."""
    condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
    return as_list(condition.get("dynamodb:LeadingKeys", ["*"]))


def function_roles(expanded):
    """{function logical id: its role}, as SAM generated them."""
    roles = {}
    for name, function in resources_of(expanded, "AWS::Lambda::Function").items():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        roles[name] = expanded["Resources"][role]
    return roles


def table_statements(role):
    """The role's inline statements that name a DynamoDB action (or any action at all)."""
    found = []
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = as_list(statement.get("Action", []))
            if "NotAction" in statement or any(a == "*" or a.startswith("dynamodb:") for a in actions):
                found.append(statement)
    return found


def policy_problems(statements_by_function, kinds, grants=GRANTS):
    """Everything wrong with the functions' DynamoDB statements: ({function: [statement]},
    the key module's partition patterns) -> messages, none when the roles are least
    privilege as GRANTS says."""
    problems = []
    granted_anywhere = set()
    table = {"Fn::GetAtt": ["Table", "Arn"]}
    for function, statements in sorted(statements_by_function.items()):
        actual = {"reads": set(), "writes": set()}
        for statement in statements:
            where = f"{function} {as_list(statement.get('Action'))}"
            actions = set(as_list(statement.get("Action", [])))
            if statement.get("Effect") != "Allow" or "NotAction" in statement or "NotResource" in statement:
                problems.append(f"{where}: only Allow statements with Action and Resource")
                continue
            # Only actions that always carry the partition key: a condition on
            # dynamodb:LeadingKeys is vacuously true for one without (Scan, DescribeTable).
            unkeyed = actions - READ_ACTIONS - WRITE_ACTIONS
            if unkeyed:
                problems.append(f"{where}: actions that name no partition key: {sorted(unkeyed)}")
            if actions & READ_ACTIONS and actions & WRITE_ACTIONS:
                problems.append(f"{where}: reads and writes in one statement")
            if as_list(statement.get("Resource")) != [table]:
                problems.append(f"{where}: resource other than the table: {statement.get('Resource')}")
            condition = statement.get("Condition")
            leading = (condition or {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
            if condition != {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": leading}} or not leading:
                problems.append(f"{where}: not limited by ForAllValues:StringLike dynamodb:LeadingKeys alone: {condition}")
                leading = ["<unconditioned>"]
            leading = as_list(leading)
            if len(set(leading)) != len(leading):
                problems.append(f"{where}: repeated leading keys {leading}")
            for pattern in leading:
                if pattern != "<unconditioned>" and pattern not in kinds:
                    problems.append(f"{where}: leading key {pattern!r} is no partition keys.rs builds")
            granted_anywhere.update(leading)
            kind = "writes" if actions & WRITE_ACTIONS else "reads"
            actual[kind].add((frozenset(actions), frozenset(leading)))
        expected = grants.get(function)
        if expected is None:
            problems.append(f"{function}: not in GRANTS; say what it may reach")
            continue
        for kind in ("reads", "writes"):
            wanted = {(frozenset(a), frozenset(p)) for a, p in expected[kind]}
            for extra in actual[kind] - wanted:
                problems.append(f"{function} {kind}: {fmt(extra)} is not in GRANTS")
            for missing in wanted - actual[kind]:
                problems.append(f"{function} {kind}: GRANTS has {fmt(missing)}, the template does not")
        written = set().union(*(p for _, p in actual["writes"])) if actual["writes"] else set()
        for pattern in sorted(written & IDENTITY - IDENTITY_WRITERS.get(function, set())):
            problems.append(f"{function} may write identity items {pattern!r}")
    for function in sorted(set(grants) - set(statements_by_function)):
        problems.append(f"GRANTS names {function}, which the template does not have")
    return problems


def fmt(statement):
    actions, patterns = statement
    return f"{sorted(a.removeprefix('dynamodb:') for a in actions)} on {sorted(patterns)}"


def test_the_key_module_is_read_whole(kinds):
    """The parser finds every form keys.rs uses (format!, literals, constants, partition
    fns, a record's `.pk`) and no sort key; and every pattern matches one kind only, so a
    leading-key pattern grants exactly the kind it names."""
    for anchor in ["USER#*", "SETTINGS", "SEQUENCE#USER", "SEQUENCE#NAMESPACE", "KAS#METRICS",
                   "STORAGE_EXCLUSIONS", "AGENT_STATE#*", "RECOVERY#*", "MINUTE_PACKS#*",
                   "SCIM#GROUP#*", "SCIM#INSTANCE", "META"]:
        assert anchor in kinds, (anchor, sorted(kinds))
    assert "namespace_partition" in kinds["NAMESPACE#*"]
    for sort_key in ["MEMBER#*", "FINDING#*", "SCAN#*", "EXCLUSION#*", "PACK#*", "IDENTITY#*",
                     "USAGE#*", "EVENTS#*", "ETKEY#*", "ADD_ON#*"]:
        assert sort_key not in kinds, sort_key
    for pattern in kinds:
        for other in kinds:
            if other != pattern:
                assert not glob_matches(pattern, example_key(other)), (pattern, other)
                # A dynamic kind whose prefix another kind's keys start with would cover it.
                if pattern.endswith("*"):
                    assert not other.startswith(pattern[:-1]), (pattern, other)


def test_every_function_reaches_only_its_items(expanded, kinds):
    """Every statement that touches the table is limited by leading key to partitions the key
    module builds; each function's reads and writes are exactly GRANTS; no function but SCIM
    (users) and shell (personal access tokens) writes an identity item."""
    statements = {name: table_statements(role) for name, role in function_roles(expanded).items()}
    assert policy_problems(statements, kinds) == []


# The Secrets Manager secrets each function may read (through the Parameters and Secrets
# extension): its own, by the template parameter naming it, and no other.
SECRETS = {
    "ShellFunction": {"ShellSecretArn"},
    "ErrorTrackingFunction": {"ShellSecretArn", "ErrorTrackingTokenArn"},
    "KasFunction": {"KasSecretArn"},
}


def test_the_roles_carry_no_other_grants(expanded):
    """Beyond their DynamoDB statements, the function roles carry only SAM's logging, tracing
    and (for the shell function) VPC policies, and GetSecretValue on their own secrets."""
    allowed = {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
    }
    for name, role in function_roles(expanded).items():
        assert set(role["Properties"].get("ManagedPolicyArns", [])) <= allowed, name
        secrets = set()
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = as_list(statement["Action"])
                if all(a.startswith("dynamodb:") for a in actions):
                    continue
                assert actions == ["secretsmanager:GetSecretValue"], name
                assert statement["Effect"] == "Allow" and "Condition" not in statement, name
                for resource in as_list(statement["Resource"]):
                    assert set(resource) == {"Ref"}, f"{name}: {resource}"
                    secrets.add(resource["Ref"])
        assert secrets == SECRETS.get(name, set()), name


def test_shell_and_kas_write_no_identity_and_error_tracking_reads_no_secret(expanded, kinds):
    """The issue's cases, spelled out: a flaw in shell or KAS cannot rewrite a user, a
    namespace, a project, an agent, a route or the settings; error tracking cannot read the
    settings (the Gitaly token) or any token lookup."""
    roles = function_roles(expanded)

    def reaches(function, wanted, kind):
        """Whether a statement of `wanted` actions reaches keys of `kind`."""
        return any(
            glob_matches(pattern, example_key(kind))
            for statement in table_statements(roles[function])
            if set(as_list(statement.get("Action", []))) & wanted
            for pattern in leading_keys(statement)
        )

    for function in ["ShellFunction", "KasFunction"]:
        for identity in ["USER#*", "USERNAME#*", "KEY#*", "KEYFP#*", "NAMESPACE#*", "PROJECT#*",
                         "ROUTE#*", "AGENT#*", "AGENTTOKEN#*", "SCIMTOKEN#*", "EMAIL#*",
                         "SEQUENCE#USER", "SEQUENCE#NAMESPACE", "SETTINGS"]:
            assert not reaches(function, WRITE_ACTIONS, identity), (function, identity)
    secrets = {"SETTINGS"} | {pattern for pattern in kinds if "TOKEN#" in pattern}
    assert secrets >= {"SETTINGS", "PATTOKEN#*", "AGENTTOKEN#*", "SCIMTOKEN#*", "LFSTOKEN#*"}
    for secret in sorted(secrets):
        assert not reaches("ErrorTrackingFunction", READ_ACTIONS | WRITE_ACTIONS, secret), secret


def test_every_partition_is_served_or_listed_as_not_served(expanded, kinds):
    """Every kind of partition the key module builds is reached by some function's role or
    listed in NOT_SERVED with the reason; the list names kinds that exist and no function
    reaches."""
    reached = {
        kind
        for role in function_roles(expanded).values()
        for statement in table_statements(role)
        for pattern in leading_keys(statement)
        for kind in kinds
        if glob_matches(pattern, example_key(kind))
    }
    assert set(NOT_SERVED) <= set(kinds), set(NOT_SERVED) - set(kinds)
    assert not reached & set(NOT_SERVED), reached & set(NOT_SERVED)
    assert set(kinds) - reached == set(NOT_SERVED), {
        "neither reached nor listed": sorted(set(kinds) - reached - set(NOT_SERVED))
    }


def test_the_policy_check_refuses_wide_policies(expanded, kinds):
    """The check itself: each way a policy can widen is reported (and the template as it is
    passes), so a green run means something."""
    base = {name: table_statements(role) for name, role in function_roles(expanded).items()}
    assert policy_problems(base, kinds) == []

    def problems_after(change):
        statements = copy.deepcopy(base)
        change(statements)
        return "\n".join(policy_problems(statements, kinds))

    def statement(statements, function, action):
        return next(s for s in statements[function] if action in as_list(s["Action"]))

    def leading(s):
        return s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]

    # The old shell policy: every item of the table, with Query.
    assert "not limited by" in problems_after(
        lambda s: statement(s, "ShellFunction", "dynamodb:PutItem").pop("Condition"))
    assert "not in GRANTS" in problems_after(
        lambda s: statement(s, "ShellFunction", "dynamodb:GetItem")["Action"].append("dynamodb:Query"))
    assert "may write identity items 'USER#*'" in problems_after(
        lambda s: leading(statement(s, "KasFunction", "dynamodb:PutItem")).append("USER#*"))
    assert "not in GRANTS" in problems_after(
        lambda s: leading(statement(s, "ErrorTrackingFunction", "dynamodb:GetItem")).append("SETTINGS"))
    assert "no partition keys.rs builds" in problems_after(
        lambda s: leading(statement(s, "KasFunction", "dynamodb:PutItem")).append("AGENT#*CONFIG"))
    assert "name no partition key" in problems_after(
        lambda s: statement(s, "AdminFunction", "dynamodb:Query")["Action"].append("dynamodb:Scan"))
    assert "reads and writes in one statement" in problems_after(
        lambda s: statement(s, "BillingFunction", "dynamodb:DeleteItem")["Action"].append("dynamodb:GetItem"))
    assert "GRANTS has" in problems_after(lambda s: s["ScimFunction"].pop())
    assert "not in GRANTS" in problems_after(lambda s: s.update(NewFunction=[]))
    # A new kind of item in keys.rs is no partition any policy may name until it is served or
    # listed as not served.
    new_kind = KEYS_RS.read_text().replace(
        "// Seed.", 'pub fn widget(id: i64) -> Key {\n    Key::new(format!("WIDGET#{id}"), "W")\n}\n\n// Seed.')
    assert "WIDGET#*" in partition_patterns(new_kind)


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


if __name__ == "__main__":
    # `python test_template.py TEMPLATE`: the least-privilege problems of another template.
    import sys

    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    packaged = yaml_parse(pathlib.Path(sys.argv[1]).read_text())
    for resource in packaged["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/function.zip"
    expanded_template = transform(packaged, PARAMETERS, NoManagedPolicies())
    found = policy_problems(
        {name: table_statements(role) for name, role in function_roles(expanded_template).items()},
        partition_patterns(KEYS_RS.read_text()),
    )
    print("\n".join(found) or "no problems")
    sys.exit(1 if found else 0)
