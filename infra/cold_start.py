"""Cold start of a function binary: process start to first invocation handled.

Serves a stand-in for the Lambda Runtime API on loopback, starts the binary with the
environment Lambda gives it, hands it one API Gateway REST event and times two moments: the
binary's first `invocation/next` (init done: configuration read, clients built) and its
response (the first request handled, store round trips included). Each run is a new process.

Usage: python infra/cold_start.py BINARY EVENT.json --runs N [--env NAME=VALUE ...]
                                 [--replace NAME=VALUE ...] [--kas-jwt] [--expect STATUS]
                                 [--secret-from-extension] [--label TEXT] [--baseline BINARY]
The event's `{{JWT}}` is replaced by a GitLab Shell JWT keyed with GITLAB_SHELL_SECRET (with
--kas-jwt, by a KAS JWT keyed with GITLAB_KAS_SECRET), and each `{{NAME}}` given with
--replace by its value. Every run's first answer must have the status --expect (200). With
--secret-from-extension the binary is given the secret's ARN instead, and the same loopback
server stands in for the Parameters and Secrets extension (as deployed), so the run includes
reading the secret at run time. With --baseline, each run of BINARY is paired with a run of
the baseline binary (the empty function) just before it, and the median of the paired
differences in init is reported too: the two see the same moment's machine, so the difference
is steadier than two medians taken minutes apart.
"""

import argparse
import base64
import http.server
import json
import os
import statistics
import subprocess
import threading
import time
import urllib.parse

import jwt

RUNTIME = "/2018-06-01/runtime"


SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gitlab-shell-AbCdEf"
SESSION_TOKEN = "cold-start-session-token"


class Run:
    def __init__(self, event: bytes, secret: str):
        self.event = event
        self.secret = secret
        self.handed = False
        self.first_next = None
        self.responded = None
        self.status = None
        self.done = threading.Event()


def serve(run_holder):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            run = run_holder[0]
            if self.path.startswith("/secretsmanager/get?"):
                return self.secret_value(run)
            if self.path != f"{RUNTIME}/invocation/next":
                return self.reply(404, b"{}")
            if run.first_next is None:
                run.first_next = time.perf_counter()
            if run.handed:
                # One invocation per process: hold the poll until the process is stopped.
                run.done.wait(30)
                return self.reply(204, b"")
            run.handed = True
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-start-1")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
            self.send_header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:eu-west-1:123456789012:function:cold-start",
            )
            self.send_header("Content-Length", str(len(run.event)))
            self.end_headers()
            self.wfile.write(run.event)

        def do_POST(self):
            run = run_holder[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path.endswith("/response"):
                run.responded = time.perf_counter()
                run.status = json.loads(body).get("statusCode")
            else:
                run.status = f"error: {body[:200]!r}"
            self.reply(202, b"{}")
            run.done.set()

        def secret_value(self, run):
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            if self.headers.get("X-Aws-Parameters-Secrets-Token") != SESSION_TOKEN:
                return self.reply(401, b"{}")
            if query.get("secretId") != [SECRET_ARN] or query.get("versionStage") != ["AWSCURRENT"]:
                return self.reply(400, b'{"__type":"ResourceNotFoundException"}')
            body = {"ARN": SECRET_ARN, "SecretString": run.secret, "CreatedDate": time.time()}
            self.reply(200, json.dumps(body).encode())

        def reply(self, status, body):
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the process was stopped while its next poll was held

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a stopped process's connections reset; nothing to report

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("event")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--replace", action="append", default=[])
    parser.add_argument("--kas-jwt", action="store_true")
    parser.add_argument("--expect", type=int, default=200)
    parser.add_argument("--label", default="")
    parser.add_argument("--secret-from-extension", action="store_true")
    parser.add_argument("--baseline")
    args = parser.parse_args()

    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_FUNCTION_NAME": "cold-start",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "cold-start",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/cold-start",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    env.update(item.split("=", 1) for item in args.env)
    now = int(time.time())
    if args.kas_jwt:
        token = jwt.encode(
            {"iss": "gitlab-kas", "aud": ["gitlab"], "iat": now, "nbf": now - 5, "exp": now + 60},
            base64.b64decode(env["GITLAB_KAS_SECRET"]),
            algorithm="HS256",
        )
    else:
        token = jwt.encode(
            {"iss": "gitlab-shell", "iat": now, "exp": now + 60},
            env.get("GITLAB_SHELL_SECRET", "").encode(),
            algorithm="HS256",
        )
    with open(args.event) as f:
        text = f.read().replace("{{JWT}}", token)
    for item in args.replace:
        name, value = item.split("=", 1)
        text = text.replace("{{" + name + "}}", value)
    event = text.encode()
    secret = env.get("GITLAB_SHELL_SECRET", "")
    if args.secret_from_extension:
        del env["GITLAB_SHELL_SECRET"]
        env["GITLAB_SHELL_SECRET_ARN"] = SECRET_ARN
        env["AWS_SESSION_TOKEN"] = SESSION_TOKEN

    def run_once(binary, expect):
        # A Runtime API of its own per process: a killed process's late poll must not take
        # the next process's invocation.
        holder = [Run(event, secret)]
        run = holder[0]
        server = serve(holder)
        env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{server.server_address[1]}"
        env["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"] = str(server.server_address[1])
        started = time.perf_counter()
        process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finished = run.done.wait(30)
        process.kill()
        process.wait()
        server.shutdown()
        server.server_close()
        if not finished or (expect is not None and run.status != expect):
            raise SystemExit(f"{args.label or binary}: the first invocation did not answer {expect}: {run.status}")
        return (run.first_next - started) * 1000, (run.responded - started) * 1000

    inits, firsts, over = [], [], []
    for _ in range(args.runs):
        if args.baseline:
            baseline_init, _ = run_once(args.baseline, None)
        init, first = run_once(args.binary, args.expect)
        inits.append(init)
        firsts.append(first)
        if args.baseline:
            over.append(init - baseline_init)

    def summary(values):
        values = sorted(values)
        p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
        return f"median {statistics.median(values):.2f} ms (min {values[0]:.2f}, p90 {p90:.2f})"

    paired = f"; init over the baseline {summary(over)}" if over else ""
    print(
        f"{args.label or args.binary}: init {summary(inits)}; "
        f"first answer ({args.expect}) {summary(firsts)}{paired}; {len(inits)} runs"
    )


if __name__ == "__main__":
    main()
