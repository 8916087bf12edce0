"""Least privilege: every function's role, against the partitions shared/store/src/keys.rs
builds and the secrets the function reads.

`python infra/template-tests/test_iam.py TEMPLATE` prints the least-privilege problems of
another template (an older one, say) and fails when there are any."""

import copy
import os
import sys

from keys_rs import KEYS_RS, example_key, glob_matches, partition_patterns
from sam_template import as_list, expand, function_roles, load, resources_of

# --- Least privilege: every function's DynamoDB access, against the key module ------------
#
# `shared/store/src/keys.rs` is the only place that builds a partition key. It is parsed (by
# keys_rs.py) for every kind of partition it builds, as the `dynamodb:LeadingKeys` pattern that
# matches exactly that kind (`USER#*` for `format!("USER#{id}")`, `SETTINGS` for a literal).
# Every function's role is then held to GRANTS below, statement for statement: a new item kind,
# a wider policy or a stale prefix fails here until the table is changed deliberately.

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


# The Secrets Manager secrets each function may read (through the Parameters and Secrets
# extension): its own, by the template parameter naming it, and no other.
SECRETS = {
    "ShellFunction": {"ShellSecretArn"},
    "ErrorTrackingFunction": {"ShellSecretArn", "ErrorTrackingTokenArn"},
    "KasFunction": {"KasSecretArn"},
}


def leading_keys(statement):
    """The partitions a statement reaches: its leading-key patterns, or all (`*`) when it is
    not limited by leading key."""
    condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
    return as_list(condition.get("dynamodb:LeadingKeys", ["*"]))


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


def test_roles_touch_only_the_table(expanded):
    for name, role in resources_of(expanded, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = as_list(statement["Action"])
                if any(a.startswith("dynamodb:") for a in actions):
                    assert as_list(statement["Resource"]) == [{"Fn::GetAtt": ["Table", "Arn"]}], name
                    assert "dynamodb:*" not in actions and "dynamodb:Scan" not in actions, name


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


if __name__ == "__main__":
    # `python test_iam.py TEMPLATE`: the least-privilege problems of another template.
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    expanded_template = expand(load(sys.argv[1]))
    found = policy_problems(
        {name: table_statements(role) for name, role in function_roles(expanded_template).items()},
        partition_patterns(KEYS_RS.read_text()),
    )
    print("\n".join(found) or "no problems")
    sys.exit(1 if found else 0)
