"""template.yaml as the tests see it: the source as written and the stack SAM expands it to
(offline, with made-up parameter values), and small helpers for looking into either."""

import copy
import os
import pathlib

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
    "CustomersDotPrincipal": "arn:aws:iam::210987654321:role/CustomersDotBilling",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "gitlab-internal-api",
}


class NoManagedPolicies:
    """The template names no managed policy, so nothing is looked up in IAM."""

    def load(self):
        return {}


def load(path=TEMPLATE):
    """The template as written."""
    return yaml_parse(pathlib.Path(path).read_text())


def expand(source):
    """The template as CloudFormation sees it, `source` left as it is."""
    # What `sam package` does before CloudFormation sees the template: code goes to S3.
    packaged = copy.deepcopy(source)
    for resource in packaged["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/function.zip"
    return transform(packaged, PARAMETERS, NoManagedPolicies())


def resources_of(expanded, kind):
    return {name: r for name, r in expanded["Resources"].items() if r["Type"] == kind}


def as_list(value):
    return value if isinstance(value, list) else [value]


def function_roles(expanded):
    """{function logical id: its role}, as SAM generated them."""
    roles = {}
    for name, function in resources_of(expanded, "AWS::Lambda::Function").items():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        roles[name] = expanded["Resources"][role]
    return roles
