#!/usr/bin/env python3
"""Cold start of a Lambda binary (custom runtime), against a fake Lambda Runtime API.

Serves the Runtime API itself on 127.0.0.1 (HTTP/1.1 keep-alive, threaded, Nagle off, each
response sent in one write). For each of --runs runs it starts the binary afresh with
AWS_LAMBDA_RUNTIME_API pointing here and measures, with time.perf_counter:
  init_ms   from just before Popen to the arrival of its first GET .../invocation/next
  first_ms  first invocation: from answering that GET with the event to the
            arrival of the whole POST .../invocation/<id>/response (or /error)
  warm_ms   the same for a second invocation, answered to the next GET
then kills the process. Prints the medians as one JSON line:
  {"init_ms": ..., "first_ms": ..., "warm_ms": ..., "runs": N, "errors": E}
where errors counts invocations that ended with POST .../error (their bodies go to stderr).
A run fails (exit 1) if the binary exits, posts an init error, or does not finish in --timeout.

The child's environment is minimal, as in Lambda: PATH, HOME, LANG, TZ=:UTC, the AWS_*
variables of this shell (credentials, endpoint), the Lambda variables, then each --env K=V.

  python3 bench/coldstart.py --binary target/lambda/handler/bootstrap --runs 20 \
      --event event.json --env AWS_ENDPOINT_URL=http://127.0.0.1:4566
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
FUNCTION = "jobs-coldstart"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"


class Run:
    """What one run of the binary did, filled in by the server's threads."""

    def __init__(self, event: bytes, invocations: int = 2) -> None:
        self.event = event
        self.cond = threading.Condition()
        self.pending = [str(uuid.uuid4()) for _ in range(invocations)]
        self.ids = list(self.pending)
        self.gets: list[float] = []  # arrival of each GET /invocation/next
        self.sent: dict[str, float] = {}  # request id -> event sent
        self.done: dict[str, float] = {}  # request id -> response or error POST arrived
        self.errors: list[str] = []
        self.init_error: str | None = None
        self.over = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: "RuntimeServer"

    def log_message(self, format: str, *args: object) -> None:  # no access log on stderr
        pass

    def reply(self, status: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n"
        self.wfile.write(head.encode("latin-1") + b"\r\n" + body)

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size + 2)[:size]
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return body
                body += chunk
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        now = time.perf_counter()
        run = self.server.run
        if self.path != f"{PREFIX}/invocation/next" or run is None:
            self.reply("404 Not Found", b'{"errorType":"NotFound"}')
            return
        with run.cond:
            run.gets.append(now)
            rid = run.pending.pop(0) if run.pending else None
            run.cond.notify_all()
        if rid is None:  # all invocations of this run handed out: hold the poll until the kill
            run.over.wait()
            self.close_connection = True
            return
        deadline_ms = int(time.time() * 1000) + 60_000
        trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
        with run.cond:  # stamped before the write, so a fast reply can never precede it
            run.sent[rid] = time.perf_counter()
        self.reply(
            "200 OK",
            run.event,
            {
                "Lambda-Runtime-Aws-Request-Id": rid,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": ARN,
                "Lambda-Runtime-Trace-Id": trace,
            },
        )

    def do_POST(self) -> None:
        body = self.read_body()
        now = time.perf_counter()
        run = self.server.run
        parts = self.path[len(PREFIX) :].strip("/").split("/")
        if run is not None and parts == ["init", "error"]:
            with run.cond:
                run.init_error = body.decode("utf-8", "replace")
                run.cond.notify_all()
        elif run is not None and len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            with run.cond:
                run.done[parts[1]] = now
                if parts[2] == "error":
                    run.errors.append(body.decode("utf-8", "replace"))
                run.cond.notify_all()
        else:
            self.reply("404 Not Found", b'{"errorType":"NotFound"}')
            return
        self.reply("202 Accepted", b'{"status":"OK"}')


class RuntimeServer(ThreadingHTTPServer):
    daemon_threads = True
    run: Run | None = None

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # the connection of a binary just killed
        super().handle_error(request, client_address)


def child_env(port: int, binary: str, extra: list[str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG") or (k.startswith("AWS_") and not k.startswith("AWS_LAMBDA_"))}
    env.setdefault("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    env.update(
        {
            "TZ": ":UTC",
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/28/[$LATEST]coldstart",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION}",
            "LAMBDA_TASK_ROOT": os.path.dirname(os.path.abspath(binary)),
        }
    )
    for kv in extra:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            raise SystemExit(f"--env wants K=V, got {kv!r}")
        env[k] = v
    return env


def one_run(server: RuntimeServer, argv: list[str], env: dict, event: bytes, log, timeout: float) -> tuple:
    run = Run(event)
    server.run = run
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        deadline = start + timeout
        with run.cond:
            while len(run.done) < len(run.ids):
                if run.init_error is not None:
                    raise RuntimeError(f"init error: {run.init_error}")
                if proc.poll() is not None:
                    raise RuntimeError(f"binary exited with {proc.returncode} after {len(run.done)} invocations")
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"timed out after {timeout} s ({len(run.gets)} polls, {len(run.done)} invocations)")
                run.cond.wait(0.05)
    finally:
        proc.kill()
        proc.wait()
        run.over.set()
        server.run = None
    for e in run.errors:
        print(f"coldstart: invocation error: {e}", file=sys.stderr)
    first, warm = run.ids
    return (
        (run.gets[0] - start) * 1000,
        (run.done[first] - run.sent[first]) * 1000,
        (run.done[warm] - run.sent[warm]) * 1000,
        len(run.errors),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", required=True, help="the Lambda binary (bootstrap)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--event", required=True, help="JSON file: the event of both invocations")
    ap.add_argument("--env", action="append", default=[], metavar="K=V", help="extra environment, repeatable")
    ap.add_argument("--port", type=int, default=0, help="Runtime API port on 127.0.0.1 (0: a free one)")
    ap.add_argument("--timeout", type=float, default=10, help="seconds allowed per run")
    ap.add_argument("--log", help="append the binary's stdout/stderr here (default: discarded)")
    a = ap.parse_args()

    with open(a.event, "rb") as f:
        event = f.read()
    json.loads(event)  # fail early on a file that is not JSON
    server = RuntimeServer(("127.0.0.1", a.port), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = server.server_address[1]
    env = child_env(port, a.binary, a.env)
    log = open(a.log, "ab") if a.log else subprocess.DEVNULL
    results = []
    try:
        stalled = 0  # runs the harness lost a poll of, run again (at most 3 in all)
        while len(results) < a.runs:
            try:
                results.append(one_run(server, [a.binary], env, event, log, a.timeout))
            except RuntimeError as e:
                print(f"coldstart: run {len(results) + 1}: {e}", file=sys.stderr)
                if "timed out" not in str(e) or stalled == 3:
                    return 1
                stalled += 1
    finally:
        server.shutdown()
        server.server_close()
        if a.log:
            log.close()
    init, first, warm, errors = zip(*results)
    print(
        json.dumps(
            {
                "init_ms": round(statistics.median(init), 3),
                "first_ms": round(statistics.median(first), 3),
                "warm_ms": round(statistics.median(warm), 3),
                "runs": len(results),
                "errors": sum(errors),
                "stalled_runs_repeated": stalled,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
