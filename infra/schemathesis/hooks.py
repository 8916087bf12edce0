"""Credentials for Schemathesis runs against the local server (`infra/schemathesis.sh`).

Each operation gets the credentials of the first security requirement in `openapi.yaml` that
the local server can check: JWTs are minted per request with the secrets the script wrote (as
GitLab Shell and KAS mint theirs, valid a minute), tokens are the demo world's. CustomersDot's
JWT needs its portal, which the local run has not, so billing is called with the admin token
it also accepts. Without a requirement the local server can satisfy, the request goes as drawn.
"""

import base64
import os
import time

import jwt
import schemathesis

SECRETS = os.environ["SCHEMATHESIS_SECRETS_DIR"]


def _read(name: str) -> bytes:
    with open(os.path.join(SECRETS, name), "rb") as f:
        return f.read()


SHELL_SECRET = _read("shell-secret").rstrip(b"\n")
KAS_SECRET = base64.b64decode(_read("kas-secret").strip())
ERROR_TRACKING_TOKEN = _read("error-tracking-token").decode().strip()
ADMIN_TOKEN = "glpat-demo-admin-token-0123456789"
AGENT_TOKEN = "glagent-demo-token-0123456789abcdef"
SCIM_GROUP_TOKEN = "glscim-demo-group-token-0123456789"
SCIM_INSTANCE_TOKEN = "glscim-demo-instance-token-012345"


def _shell_jwt() -> str:
    now = int(time.time())
    return jwt.encode({"iss": "gitlab-shell", "iat": now, "exp": now + 60}, SHELL_SECRET, algorithm="HS256")


def _kas_jwt() -> str:
    now = int(time.time())
    claims = {"iss": "gitlab-kas", "aud": ["gitlab"], "iat": now, "nbf": now - 5, "exp": now + 60}
    return jwt.encode(claims, KAS_SECRET, algorithm="HS256")


def _scim_token(case) -> str:
    return SCIM_INSTANCE_TOKEN if "/application/" in case.operation.path else SCIM_GROUP_TOKEN


# What each scheme the local server can check puts on a request.
SCHEMES = {
    "GitlabShellJwt": lambda case: {"Gitlab-Shell-Api-Request": _shell_jwt()},
    "GitlabKasJwt": lambda case: {"Gitlab-Kas-Api-Request": _kas_jwt()},
    "KasAgentToken": lambda case: {"Authorization": f"Bearer {AGENT_TOKEN}"},
    "PrivateToken": lambda case: {"PRIVATE-TOKEN": ADMIN_TOKEN},
    "ScimToken": lambda case: {"Authorization": f"Bearer {_scim_token(case)}"},
    "ErrorTrackingToken": lambda case: {"Gitlab-Error-Tracking-Token": ERROR_TRACKING_TOKEN},
}


def _requirement(case):
    for requirement in case.operation.definition.raw.get("security", []):
        if requirement and all(name in SCHEMES for name in requirement):
            return requirement
    return None


@schemathesis.auth(refresh_interval=None)
class LocalCredentials:
    def get(self, case, context):
        return _requirement(case)

    def set(self, case, requirement, context):
        if requirement is None:
            return
        headers = dict(case.headers or {})
        for name in requirement:
            headers.update(SCHEMES[name](case))
        case.headers = headers
