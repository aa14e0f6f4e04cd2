#!/usr/bin/env python3
"""Checks that `GET /openapi.json` tells the truth, with schemathesis.

Starts the `flit` binary on a fresh data dir and a free loopback port, reads the bootstrap
API key (`bootstrap.json`) and the generated admin token (`admin-token`), and runs
`st run` against the server's own description with the checks `not_a_server_error`,
`status_code_conformance`, `content_type_conformance`, `response_schema_conformance` and
`response_headers_conformance`: a bounded number of examples per operation and phase, the API
key on `/api/v1`, the admin token on `/admin/v1` (each matched to its security scheme by
name). Exits non-zero on any failure; a failure prints the seed that `--seed` replays.

    python3 interop/schemathesis.py [--flit target/debug/flit] [--max-examples N] [--seed N]

Needs `pip install -r interop/requirements.txt`. Options after `--` go to `st run` as given.
"""

import argparse
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
]
# High enough that the per-key window never answers 429 during the run, so every request
# reaches the handler it is meant to test.
RATE_LIMIT_PER_MINUTE = 1_000_000


def default_binary():
    for profile in ("debug", "release"):
        candidate = ROOT / "target" / profile / "flit"
        if candidate.exists():
            return candidate
    return ROOT / "target" / "debug" / "flit"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(method, url, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.load(response)


def wait_until_up(base, server, deadline_seconds=60):
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"flit exited with status {server.returncode} before it answered")
        try:
            request("GET", f"{base}/health")
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    sys.exit(f"flit did not answer {base}/health within {deadline_seconds} s")


def config_toml(max_examples, max_failures):
    """The run's settings; the secrets come from the environment (`${...}`), not the file."""
    return f"""\
generation.max-examples = {max_examples}
generation.database = "none"
max-failures = {max_failures}
request-timeout = 10.0

[phases.stateful]
max-steps = 20

[auth.openapi.apiKey]
bearer = "${{FLIT_API_KEY}}"

[auth.openapi.apiKeyHeader]
api_key = "${{FLIT_API_KEY}}"

[auth.openapi.apiKeyAuthorization]
api_key = "X-Api-key ${{FLIT_API_KEY}}"

[auth.openapi.adminToken]
bearer = "${{FLIT_ADMIN_TOKEN}}"

# A FlixySMS send answers the seed's documented 503 "No devices available to send SMS" when
# the run has unpaired the phone paired below (it may delete what it lists).
[[operations]]
include-path = "/flixy/api/v1/sms/send"
checks.not_a_server_error.expected-statuses = ["2XX", "4XX", "503"]
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flit", type=Path, default=None, help="the flit binary")
    parser.add_argument("--max-examples", type=int, default=100, help="per operation and phase")
    parser.add_argument("--max-failures", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None, help="reproduce an earlier run")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and report")
    parser.add_argument("extra", nargs="*", help="more `st run` options (after --)")
    args = parser.parse_args()

    binary = (args.flit or default_binary()).resolve()
    if not binary.exists():
        sys.exit(f"no flit binary at {binary}: build it with `cargo build -p flit-api`")
    # The schemathesis of this interpreter (the one `python3 -m pip` installed it into).
    if importlib.util.find_spec("schemathesis") is None:
        sys.exit("schemathesis is not installed: python3 -m pip install -r interop/requirements.txt")

    work = Path(tempfile.mkdtemp(prefix="flit-schemathesis-"))
    data_dir = work / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIT_")}
    env.setdefault("RUST_LOG", "warn")
    server_log = open(work / "flit.log", "wb")
    server = subprocess.Popen(
        [str(binary), "serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    status = 1
    try:
        wait_until_up(base, server)
        bootstrap = json.loads((data_dir / "bootstrap.json").read_text())
        api_key = bootstrap["apiKey"]
        admin_token = (data_dir / "admin-token").read_text().strip()
        request(
            "PATCH",
            f"{base}/admin/v1/tenants/{bootstrap['tenantId']}",
            admin_token,
            {"rateLimitPerMinute": RATE_LIMIT_PER_MINUTE},
        )
        # A phone of the tenant that pulled, so it is online for the whole run: FlixySMS
        # sends then have a phone to go through (without one they answer a documented 503).
        registration = request(
            "POST", f"{base}/api/v1/devices/registration-token", api_key
        )["data"]["token"]
        phone = request("POST", f"{base}/mobile/v1/device", registration, {})["token"]
        request("GET", f"{base}/mobile/v1/message", phone)
        config = work / "schemathesis.toml"
        config.write_text(config_toml(args.max_examples, args.max_failures))
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--no-color",
            "--config-file",
            str(config),
            "run",
            f"{base}/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--workers",
            "2",
            "--report",
            "junit",
            "--report-dir",
            str(work / "report"),
        ]
        if args.seed is not None:
            command += ["--seed", str(args.seed)]
        command += args.extra
        print("+", " ".join(command), flush=True)
        st_env = dict(env, FLIT_API_KEY=api_key, FLIT_ADMIN_TOKEN=admin_token)
        status = subprocess.call(command, env=st_env, cwd=work)
        if server.poll() is not None:
            print(f"flit exited with status {server.returncode} during the run", flush=True)
            status = status or 1
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        server_log.close()
        if status != 0:
            log = (work / "flit.log").read_text(errors="replace")
            print("---- last lines of the flit log ----")
            print("\n".join(log.splitlines()[-40:]))
        if args.keep or status != 0:
            print(f"data dir, server log and report kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
