#!/usr/bin/env python3
"""`make bench`: one run, one markdown table per section, every figure measured in this run.

A  Against the local emulator (LocalStack at AWS_ENDPOINT_URL, bucket JOBS_BUCKET, as
   `infra/local/local.sh run` sets them). BENCH_JOBS (3000) upload jobs of 1 KiB, each
   contender on a fresh queue (VisibilityTimeout 60; the worker also gets a fresh DLQ).
   Enqueue, S=8 sends in flight: `jobs enqueue --json` vs `bench-raw send` (the SDK's limit)
   vs bench/peers/enqueue.py (boto3, 8 threads).
   Drain, C=16 jobs in flight, on a queue filled beforehand (untimed, with bench-raw send):
   `worker` (JOBS_CONCURRENCY=16; timed from its start until GetQueueAttributes, polled every
   100 ms, shows no message visible or in flight; then SIGTERM) vs `bench-raw drain` vs
   bench/peers/worker.py (16 threads).
   jobs/s: ours over the whole command (start-up and the file check included); bench-raw and
   the boto3 peers by their own timers, which leave their start-up out. CPU: user + sys of
   the client process from wait4 (as bench/cpu.py), per 1,000 jobs, start-up included.
B  Against bench-stub (a stub SQS + S3 answering at once, started here on a free port), so
   that the client's own cost shows. Enqueue BENCH_STUB_JOBS (100000) 1 KiB jobs: `jobs
   enqueue --json` (whole command, and the sending phase alone from the stub's counters) vs
   bench-raw send. Drain: `worker` with JOBS_CONCURRENCY=64, its rate from the stub's
   `deleted` counter between 1 s after its start and BENCH_STUB_DRAIN (50000) deletions, vs
   bench-raw drain --concurrency 64. The same drain with the worker on two queues, `default`
   (the stub's endless queue) beside `mailers`, empty or a trickle, weighted and strict,
   against `default` alone: BENCH_QUEUE_RUNS runs of each, alternating; medians. Lambda path: 100 SQS events of 10 1 KiB upload jobs,
   5 timed rounds after a warm-up: `bench-lambda-batch` vs bench/peers/powertools_batch.py.
C  CPU per job from criterion (`cargo bench -p bench --bench cpu_per_job`): the full path,
   the path without request signing, and the floor (base64 decode + sha256).
D  Cold start under bench/coldstart.py's fake Runtime API, 20 runs: `handler` (an SQS event
   with one small upload job, endpoint = the stub) vs `bench-hello`, in 4 alternating rounds
   of 5; the median of the rounds' medians.
E  Peak RSS (VmHWM) of `handler` after one invocation with 10 x 256 KiB uploads (stub), with
   bench-hello on the same event beside it; the arm64 zip's size.
F  Against the local emulator: a BENCH_LARGE_MIB (50) MiB file staged by `jobs enqueue upload
   --payload-bucket` and copied by `worker` with the ledger on: the peak RSS (VmHWM) of each.

A runs last, B to F first: after its load LocalStack stays busy, and B to E measure the
client alone. A missing binary or a failed contender shows in its cell; the rest of the run
goes on.
Progress goes to stderr; the tables to stdout and to bench/results/latest.md.

Settings (environment): BENCH_ONLY=A,B,C,D,E,F (all), BENCH_JOBS (3000), BENCH_STUB_JOBS
(100000), BENCH_STUB_DRAIN (50000), BENCH_QUEUE_RUNS (5: runs of each mode of the drain
beside mailers), BENCH_BASELINE_WORKER (a worker binary built from an earlier commit: it
drains `default` alone in those runs too, against this one), BENCH_STUB_PORT (0: a free one), BENCH_BIN_DIR
(target/release), BENCH_CRITERION=run|read (run: run cargo bench here; read: only read
target/criterion), BENCH_TIMEOUT (900 s per child), BENCH_OUT (bench/results/latest.md),
BENCH_COMMAND (the command shown in the header).

  infra/local/local.sh run .venv/bench/bin/python bench/run.py
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import select
import shutil
import signal
import statistics
import zipfile
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))
sys.dont_write_bytecode = True  # no bench/__pycache__ in the tree
import coldstart  # noqa: E402  (bench/coldstart.py: the fake Lambda Runtime API, reused by E)

PY = sys.executable
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
BIN_DIR = Path(os.environ.get("BENCH_BIN_DIR") or TARGET_DIR / "release")
# D and E run the Lambda binaries as the zip builds them (opt-level "s"), for x86-64.
LAMBDA_BIN_DIR = Path(os.environ.get("BENCH_LAMBDA_BIN_DIR") or TARGET_DIR / "lambda-x86" / "release")
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "900"))
N_A = int(os.environ.get("BENCH_JOBS", "3000"))
N_STUB = int(os.environ.get("BENCH_STUB_JOBS", "100000"))
N_STUB_DRAIN = int(os.environ.get("BENCH_STUB_DRAIN", "50000"))
S_A, C_A, C_STUB = 8, 16, 64  # sends in flight; jobs in flight (A); jobs in flight (B)
LAMBDA_ROUNDS, COLD_RUNS = 5, 20
STUB_BUCKET = "bench-bucket"
RUN_ID = f"{int(time.time()):x}"
T0 = time.perf_counter()
WORK = Path(tempfile.mkdtemp(prefix="jobs-bench-"))  # jobs files, events, children's logs

Value = Union[float, str]  # a figure, or why there is none

# Every endpoint here is local: test credentials unless some are set, and no instance
# metadata. In os.environ itself, as coldstart.child_env (used by E) copies AWS_* from it.
for _k, _v in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", REGION), ("AWS_DEFAULT_REGION", REGION)):
    os.environ.setdefault(_k, _v)
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def log(msg: str) -> None:
    print(f"[bench {time.perf_counter() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


class Unavailable(Exception):
    """A figure that cannot be had (missing binary, failed child, ...): its cell says why."""


def attempt(what: str, fn: Callable[[], object]) -> object:
    """fn(), or the reason it gave none, as a string for the table."""
    try:
        return fn()
    except Unavailable as e:
        log(f"{what}: {e}")
        return str(e)
    except Exception as e:  # a bug or an emulator error: say so in the cell and go on
        log(f"{what}: error: {e!r}\n{traceback.format_exc()}")
        return f"error: {type(e).__name__}: {e}"[:160]


def pick(result: object, key: str) -> Value:
    return result[key] if isinstance(result, dict) else str(result)


def binary(name: str, directory: Optional[Path] = None) -> str:
    path = (directory or BIN_DIR) / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise Unavailable(f"missing: {rel(path)}")
    return str(path)


def rel(path: Path) -> str:
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------
# Children: our own wait (pidfd + wait4), so each one's rusage is its own.


@dataclass
class Usage:
    wall_s: float  # start to exit
    cpu_s: float  # user + sys, from wait4
    maxrss_kib: int
    returncode: int
    killed: bool
    out: Path
    log: Path

    def json(self) -> dict:
        """The child's stdout as one JSON document, else its last line as one."""
        text = self.out.read_text(encoding="utf-8", errors="replace").strip()
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            try:
                return json.loads(text.splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                raise Unavailable(f"no JSON on stdout (see {self.log})") from None

    def check(self, what: str) -> "Usage":
        if self.killed:
            raise Unavailable(f"timed out (see {self.log})")
        if self.returncode != 0:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-5:]
            for line in tail:
                log(f"  {what} stderr: {line}")
            raise Unavailable(f"failed: exit {self.returncode} (see {self.log})")
        return self


LIVE: dict[int, "Child"] = {}  # started and not yet reaped, stopped by pid on the way out


class Child:
    """One child process; stdout and stderr go to WORK/<name>.out and WORK/<name>.log."""

    def __init__(self, name: str, cmd: list[str], env: dict) -> None:
        self.name = name
        self.out_path, self.log_path = WORK / f"{name}.out", WORK / f"{name}.log"
        self._out, self._err = open(self.out_path, "wb"), open(self.log_path, "wb")
        self.start = time.perf_counter()
        try:
            self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err)
        except OSError as e:
            self._out.close(), self._err.close()
            raise Unavailable(f"cannot start {rel(Path(cmd[0]))}: {e.strerror}") from None
        self.pidfd = os.pidfd_open(self.proc.pid)
        LIVE[self.proc.pid] = self

    def exited(self, timeout: float = 0.0) -> bool:
        """Whether it has exited (it stays unreaped until wait())."""
        return bool(select.select([self.pidfd], [], [], max(timeout, 0))[0])

    def wait(self, timeout: float = TIMEOUT) -> Usage:
        killed = False
        if not self.exited(timeout):
            log(f"{self.name}: still running after {timeout:.0f} s; killing pid {self.proc.pid}")
            os.kill(self.proc.pid, signal.SIGKILL)
            killed = True
        end = time.perf_counter()
        _, status, ru = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
        LIVE.pop(self.proc.pid, None)
        os.close(self.pidfd)
        self._out.close(), self._err.close()
        return Usage(end - self.start, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, self.proc.returncode, killed, self.out_path, self.log_path)

    def stop(self, grace: float = 30) -> Usage:
        """SIGTERM (it is not reaped yet, so the pid is still its own), then wait."""
        if not self.exited():
            os.kill(self.proc.pid, signal.SIGTERM)
        return self.wait(grace)


def run_child(name: str, cmd: list[str], env: dict, timeout: float = TIMEOUT) -> Usage:
    log(f"  {name}: {' '.join(rel(Path(c)) if c.startswith(str(ROOT)) else c for c in cmd)}")
    return Child(name, cmd, env).wait(timeout).check(name)


def base_env() -> dict:
    """This environment without the stack's optional JOBS_* settings (no idempotency
    ledger, no receive count), so that ours does the same work as the peers."""
    env = dict(os.environ)
    for k in ("JOBS_QUEUE_URL", "JOBS_QUEUE_URLS", "JOBS_QUEUES", "JOBS_QUEUE_ORDER", "JOBS_DLQ_URL", "JOBS_IDEMPOTENCY_TABLE", "JOBS_MAX_RECEIVE_COUNT", "JOBS_APP_SETTINGS"):
        env.pop(k, None)
    return env


# ---------------------------------------------------------------------------------------
# Inputs: jobs files and events, made once per shape.

_made: dict[tuple, Path] = {}


def jobs_file(count: int, size: int, bucket: str) -> Path:
    key = (count, size, bucket)
    if key not in _made:
        out = WORK / f"jobs-{count}x{size}-{bucket}.jsonl"
        log(f"writing {count} upload jobs of {size} bytes for bucket {bucket}")
        subprocess.run([PY, str(BENCH / "gen_jobs.py"), "--count", str(count), "--bytes", str(size), "--bucket", bucket, "--out", str(out)], check=True)
        _made[key] = out
    return _made[key]


def events_file(jobs: Path) -> Path:
    out = jobs.with_suffix(".events.json")
    if not out.exists():
        subprocess.run([PY, str(BENCH / "gen_events.py"), "--jobs-file", str(jobs), "--out", str(out)], check=True)
    return out


def first_event(jobs: Path) -> Path:
    out = jobs.with_suffix(".event.json")
    out.write_text(json.dumps(json.loads(events_file(jobs).read_text())[0]))
    return out


# ---------------------------------------------------------------------------------------
# Tables


@dataclass
class Row:
    figure: str
    ours: str
    peer: str
    ratio: str
    target: str
    met: Optional[bool]


@dataclass
class Section:
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(
        self,
        figure: str,
        ours: Value,
        peer: Value = "—",
        fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
        *,
        peer_label: str = "",
        ratio: Optional[Callable[[float, float], float]] = None,
        target: str = "—",
        ok_ratio: Optional[Callable[[float], bool]] = None,
        ok_ours: Optional[Callable[[float], bool]] = None,
    ) -> None:
        """ours/peer: numbers, or strings saying why there is none. ratio(ours, peer);
        the target is tested on the ratio (ok_ratio) or on ours (ok_ours)."""
        num = lambda v: isinstance(v, (int, float))  # noqa: E731
        r = None
        if ratio and num(ours) and num(peer):
            try:
                r = ratio(ours, peer)
            except ZeroDivisionError:
                r = None
        met = None
        if ok_ratio and r is not None:
            met = ok_ratio(r)
        elif ok_ours and num(ours):
            met = ok_ours(ours)
        cell = lambda v: fmt(v) if num(v) else str(v)  # noqa: E731
        peer_cell = cell(peer)
        if peer_label and num(peer):
            peer_cell = f"{peer_label} {peer_cell}"
        self.rows.append(Row(figure, cell(ours), peer_cell, "—" if r is None else f"{r:.2f}×", target, met))

    def markdown(self) -> str:
        esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        lines = [f"### {self.key}. {self.title}", "", "| figure | ours | limit/peer | ratio | target | met? |", "|---|---:|---:|---:|---|:---:|"]
        for r in self.rows:
            met = {True: "yes", False: "**no**", None: "—"}[r.met]
            lines.append(f"| {esc(r.figure)} | {esc(r.ours)} | {esc(r.peer)} | {r.ratio} | {esc(r.target)} | {met} |")
        lines += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines).rstrip() + "\n"


rate = lambda v: f"{v:,.0f}"  # noqa: E731
cpu = lambda v: f"{v:.3f}"  # noqa: E731
ms = lambda v: f"{v:.2f}"  # noqa: E731
us = lambda v: f"{v:,.1f}"  # noqa: E731
mb = lambda v: f"{v:.1f}"  # noqa: E731


# ---------------------------------------------------------------------------------------
# A. Against LocalStack


class Emulator:
    """The local emulator's SQS and S3, through boto3 (queue set-up and polling only)."""

    def __init__(self, endpoint: str) -> None:
        import boto3  # only here: the other sections need no boto3 in this process

        self.sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
        self.s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
        self.made: list[str] = []

    def queue(self, name: str) -> str:
        url = self.sqs.create_queue(QueueName=f"bench-{RUN_ID}-{name}", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
        self.made.append(url)
        return url

    def counts(self, url: str) -> tuple[int, int]:
        a = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])

    def expect_visible(self, url: str, n: int, within: float = 15) -> None:
        deadline = time.monotonic() + within
        while (got := self.counts(url)[0]) != n:
            if time.monotonic() > deadline:
                raise Unavailable(f"invalid: the queue holds {got} messages, not {n}")
            time.sleep(0.2)

    def drop_queues(self) -> None:
        for url in self.made:
            try:
                self.sqs.delete_queue(QueueUrl=url)
            except Exception as e:  # noqa: BLE001 - clean-up only
                log(f"could not delete {url}: {e}")
        self.made.clear()

    def drop_objects(self, bucket: str, n: int) -> None:
        """The keys gen_jobs wrote (bench/0 .. bench/n-1), so the stack's bucket is as it was."""
        for i in range(0, n, 1000):
            keys = [{"Key": f"bench/{k}"} for k in range(i, min(i + 1000, n))]
            try:
                self.s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            except Exception as e:  # noqa: BLE001 - clean-up only
                log(f"could not delete the bench/ objects of {bucket}: {e}")
                return


def a_enqueue(emu: Emulator, env: dict, jobs: Path, who: str) -> dict:
    url = emu.queue(f"enqueue-{who}")
    if who == "ours":
        usage = run_child("a-enqueue-ours", [binary("jobs"), "enqueue", "--json", str(jobs), "--queue-url", url, "--sends-in-flight", str(S_A), "--output", "json"], env).check("jobs enqueue")
        seconds = usage.wall_s
    elif who == "raw":
        usage = run_child("a-enqueue-raw", [binary("bench-raw"), "send", "--queue-url", url, "--file", str(jobs), "--concurrency", str(S_A)], env)
        seconds = usage.wall_s  # as ours: the whole command
    else:
        usage = run_child("a-enqueue-boto3", [PY, str(BENCH / "peers/enqueue.py"), "--queue-url", url, "--file", str(jobs), "--threads", str(S_A)], env)
        seconds = usage.json()["seconds"]
    emu.expect_visible(url, N_A)
    result = {"rate": N_A / seconds, "cpu": usage.cpu_s * 1000 / N_A, "wall": usage.wall_s}
    log(f"  -> {result['rate']:,.0f} jobs/s, {result['cpu']:.3f} CPU s per 1,000 jobs")
    return result


def a_fill(emu: Emulator, env: dict, jobs: Path, url: str, who: str) -> None:
    """Fill a drain queue, untimed: bench-raw send, else the boto3 peer."""
    try:
        cmd = [binary("bench-raw"), "send", "--queue-url", url, "--file", str(jobs), "--concurrency", str(S_A)]
    except Unavailable:
        cmd = [PY, str(BENCH / "peers/enqueue.py"), "--queue-url", url, "--file", str(jobs), "--threads", str(S_A)]
    run_child(f"a-fill-{who}", cmd, env)
    emu.expect_visible(url, N_A)


def a_drain(emu: Emulator, env: dict, jobs: Path, who: str) -> dict:
    exe = binary({"ours": "worker", "raw": "bench-raw"}[who]) if who != "boto3" else PY
    url = emu.queue(f"drain-{who}")
    a_fill(emu, env, jobs, url, who)
    if who == "ours":
        dlq = emu.queue("drain-ours-dlq")
        env = dict(env, JOBS_QUEUE_URL=url, JOBS_DLQ_URL=dlq, JOBS_CONCURRENCY=str(C_A), JOBS_WAIT_SECONDS="1")
        log(f"  a-drain-ours: {rel(Path(exe))} (JOBS_CONCURRENCY={C_A}) until the queue is empty")
        child = Child("a-drain-ours", [exe], env)
        deadline, seconds, early = child.start + TIMEOUT, None, False
        try:
            while not (early := child.exited(0.1)) and time.perf_counter() < deadline:
                if emu.counts(url) == (0, 0):
                    seconds = time.perf_counter() - child.start
                    break
        finally:
            usage = child.stop()
        usage.check("worker")
        if seconds is None:
            why = "the worker exited" if early else f"{TIMEOUT:.0f} s passed"
            raise Unavailable(f"failed: {why} before the queue was empty (see {usage.log})")
        dead = emu.counts(dlq)[0]
        if dead:
            raise Unavailable(f"invalid: {dead} jobs went to the DLQ (see {usage.log})")
    elif who == "raw":
        usage = run_child("a-drain-raw", [exe, "drain", "--queue-url", url, "--jobs", str(N_A), "--concurrency", str(C_A)], env)
        seconds = usage.wall_s  # as ours: the whole command
    else:
        usage = run_child("a-drain-boto3", [PY, str(BENCH / "peers/worker.py"), "--queue-url", url, "--jobs", str(N_A), "--threads", str(C_A)], env)
        seconds = usage.json()["seconds"]
    result = {"rate": N_A / seconds, "cpu": usage.cpu_s * 1000 / N_A, "wall": usage.wall_s}
    log(f"  -> {result['rate']:,.0f} jobs/s, {result['cpu']:.3f} CPU s per 1,000 jobs")
    return result


def section_a() -> Section:
    endpoint, bucket = os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("JOBS_BUCKET")
    sec = Section("A", f"Local emulator ({endpoint or 'none'}): {N_A:,} upload jobs of 1 KiB; S={S_A} sends in flight, C={C_A} jobs in flight")
    if not endpoint or not bucket:
        sec.row("all of A", "skipped: AWS_ENDPOINT_URL and JOBS_BUCKET unset (run under infra/local/local.sh run)")
        return sec
    emu = Emulator(endpoint)
    env = base_env()
    jobs = jobs_file(N_A, 1024, bucket)
    contenders = ("ours", "raw", "boto3")
    try:
        enq, drain = {}, {}
        for who in contenders:
            log(f"A: enqueue, {who}")
            enq[who] = attempt(f"A enqueue {who}", lambda: a_enqueue(emu, env, jobs, who))
            emu.drop_queues()
        for who in contenders:
            log(f"A: drain, {who}")
            drain[who] = attempt(f"A drain {who}", lambda: a_drain(emu, env, jobs, who))
            emu.drop_queues()
    finally:
        emu.drop_queues()
        emu.drop_objects(bucket, N_A)

    for what, res in (("enqueue", enq), ("drain", drain)):
        ours, raw, boto = (pick(res[w], "rate") for w in contenders)
        sec.row(f"{what}, jobs/s", ours, raw, rate, peer_label="raw", ratio=lambda o, p: o / p, target="≥ 0.90 × raw", ok_ratio=lambda r: r >= 0.9)
        sec.row(f"{what}, jobs/s", ours, boto, rate, peer_label="boto3", ratio=lambda o, p: o / p, target="≥ boto3", ok_ratio=lambda r: r >= 1.0)
        ours, raw, boto = (pick(res[w], "cpu") for w in contenders)
        sec.row(f"{what}, client CPU s per 1,000 jobs", ours, boto, cpu, peer_label="boto3", ratio=lambda o, p: p / o, target="boto3/ours ≥ 5", ok_ratio=lambda r: r >= 5)
        sec.row(f"{what}, client CPU s per 1,000 jobs", ours, raw, cpu, peer_label="raw", ratio=lambda o, p: p / o)
    sec.notes += [
        "jobs/s: ours and raw (both Rust) over the whole command (start-up included; for ours also the file check, and for the worker the poll for an empty queue, every 100 ms); boto3 by its own timer (Python's start-up and the import of boto3 left out, in its favour).",
        "CPU: user + sys of the client process (wait4), start-up included. Ratio columns: ours/peer for rates, peer/ours for CPU.",
        "Each contender on a fresh queue; the drain queues filled beforehand, untimed. The idempotency ledger is off (JOBS_IDEMPOTENCY_TABLE unset), as the peers have none.",
    ]
    return sec


# ---------------------------------------------------------------------------------------
# The stub (B, D, E)


class Stub:
    """bench-stub on 127.0.0.1, started once, stopped by pid at the end."""

    def __init__(self) -> None:
        self.proc: Optional[subprocess.Popen] = None
        self.error: Optional[str] = None

    def start(self) -> "Stub":
        if self.proc or self.error:
            return self
        try:
            exe = binary("bench-stub")
        except Unavailable as e:
            self.error = str(e)
            return self
        port = int(os.environ.get("BENCH_STUB_PORT") or 0) or free_port()
        log(f"starting {rel(Path(exe))} on 127.0.0.1:{port}")
        logf = open(WORK / "stub.log", "wb")
        self.proc = subprocess.Popen([exe, "--port", str(port)], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=logf)
        ready = threading.Event()

        def pump() -> None:  # wait for the ready line, then keep the pipe drained
            for line in self.proc.stdout:
                logf.write(line)
                logf.flush()
                if b"listening on" in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(30):
            self.stop()
            self.error = f"failed: bench-stub did not say it was listening (see {WORK / 'stub.log'})"
            return self
        self.url = f"http://127.0.0.1:{port}"
        self.queue_url = f"{self.url}/000000000000/bench"
        self.dlq_url = f"{self.url}/000000000000/bench-dlq"
        return self

    def need(self) -> "Stub":
        self.start()
        if self.error:
            raise Unavailable(self.error)
        return self

    def stats(self) -> dict:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{self.url}/__stats", timeout=10) as r:
            return json.loads(r.read())

    def env(self, **extra: str) -> dict:
        env = base_env()
        for k in ("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_S3"):
            env.pop(k, None)
        env["AWS_ENDPOINT_URL"] = self.url
        env.update(extra)
        return env

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            log(f"stopping bench-stub (pid {self.proc.pid})")
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STUB = Stub()


# ---------------------------------------------------------------------------------------
# B. Against the stub


def b_enqueue_ours(jobs: Path) -> dict:
    stub = STUB.need()
    exe = binary("jobs")
    base = stub.stats()["sent"]
    log(f"  b-enqueue-ours: jobs enqueue --json ({N_STUB:,} jobs) --sends-in-flight {S_A}")
    child = Child("b-enqueue-ours", [exe, "enqueue", "--json", str(jobs), "--queue-url", stub.queue_url, "--sends-in-flight", str(S_A), "--output", "json"], stub.env())
    samples = []  # (time, sent so far) every 50 ms while it runs
    deadline = child.start + TIMEOUT
    while not child.exited(0.05) and time.perf_counter() < deadline:
        samples.append((time.perf_counter(), stub.stats()["sent"] - base))
    usage = child.wait(0).check("jobs enqueue")
    sent = stub.stats()["sent"] - base
    if sent != N_STUB:
        raise Unavailable(f"invalid: the stub got {sent:,} messages, not {N_STUB:,}")
    samples.append((child.start + usage.wall_s, sent))
    started = next(((t, n) for t, n in samples if n > 0), None)
    finished = next(((t, n) for t, n in samples if n >= N_STUB), None)
    phase: Value = "too short to sample"
    if started and finished and finished[0] > started[0]:
        phase = (finished[1] - started[1]) / (finished[0] - started[0])
    result = {"rate": N_STUB / usage.wall_s, "phase": phase, "wall": usage.wall_s, "cpu": usage.cpu_s * 1000 / N_STUB}
    log(f"  -> {result['rate']:,.0f} jobs/s over {usage.wall_s:.2f} s; sending phase {phase if isinstance(phase, str) else f'{phase:,.0f} jobs/s'}")
    return result


MILLION = int(os.environ.get("BENCH_MILLION", "1000000"))


def vm_hwm_kib(pid: int) -> Optional[int]:
    """The process's peak resident memory so far (VmHWM), while it has not been reaped."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def b_enqueue_million() -> dict:
    """A million-line JSON Lines file through `jobs enqueue --json`: its peak RSS."""
    stub = STUB.need()
    jobs = jobs_file(MILLION, 64, STUB_BUCKET)
    base = stub.stats()["sent"]
    log(f"  b-enqueue-million: jobs enqueue --json ({MILLION:,} lines)")
    child = Child("b-enqueue-million", [binary("jobs"), "enqueue", "--json", str(jobs), "--queue-url", stub.queue_url, "--sends-in-flight", str(S_A), "--output", "json"], stub.env())
    # VmHWM read while it runs: wait4's ru_maxrss also counts the Python parent's
    # memory that the child shared before its exec.
    peak_kib = 0
    while not child.exited(0.05):
        peak_kib = max(peak_kib, vm_hwm_kib(child.proc.pid) or 0)
    usage = child.wait(0).check("jobs enqueue")
    sent = stub.stats()["sent"] - base
    if sent != MILLION:
        raise Unavailable(f"invalid: the stub got {sent:,} messages, not {MILLION:,}")
    result = {"rss_mb": peak_kib / 1024, "rate": MILLION / usage.wall_s}
    log(f"  -> peak RSS {result['rss_mb']:.1f} MB, {result['rate']:,.0f} jobs/s over {usage.wall_s:.1f} s")
    return result


def b_enqueue_raw(jobs: Path) -> dict:
    stub = STUB.need()
    base = stub.stats()["sent"]
    usage = run_child("b-enqueue-raw", [binary("bench-raw"), "send", "--queue-url", stub.queue_url, "--file", str(jobs), "--concurrency", str(S_A)], stub.env())
    seconds = usage.json()["seconds"]
    sent = stub.stats()["sent"] - base
    if sent != N_STUB:
        raise Unavailable(f"invalid: the stub got {sent:,} messages, not {N_STUB:,}")
    result = {"rate": N_STUB / seconds, "phase": N_STUB / seconds, "wall": usage.wall_s, "cpu": usage.cpu_s * 1000 / N_STUB}
    log(f"  -> {result['rate']:,.0f} jobs/s (own timer), command {usage.wall_s:.2f} s")
    return result


def b_drain_ours() -> dict:
    stub = STUB.need()
    env = stub.env(JOBS_QUEUE_URL=stub.queue_url, JOBS_DLQ_URL=stub.dlq_url, JOBS_CONCURRENCY=str(C_STUB), JOBS_WAIT_SECONDS="1")
    return drain_rate("b-drain-ours", env)


def drain_rate(name: str, env: dict, exe: Optional[str] = None) -> dict:
    """The worker's drain rate of the stub's `bench` queue (its `deleted` counter, which
    leaves the trickle queue's deletions out), from 1 s after its start."""
    stub = STUB.need()
    exe = exe or binary("worker")
    base = stub.stats()
    log(f"  {name}: worker (JOBS_CONCURRENCY={env.get('JOBS_CONCURRENCY')}) until the stub counts {N_STUB_DRAIN:,} deletions after its first second")
    child = Child(name, [exe], env)
    first = last = None
    deadline, early = child.start + TIMEOUT, False
    try:
        while time.perf_counter() < deadline and not (early := child.exited(0.1)):
            now, deleted = time.perf_counter(), stub.stats()["deleted"] - base["deleted"]
            if first is None and now - child.start >= 1.0:
                first = (now, deleted)
            if first is not None and deleted - first[1] >= N_STUB_DRAIN:
                last = (now, deleted)
                break
    finally:
        usage = child.stop()
    usage.check("worker")
    if first is None or last is None:
        why = "the worker exited" if early else f"{TIMEOUT:.0f} s passed"
        raise Unavailable(f"failed: {why} before {N_STUB_DRAIN:,} deletions (see {usage.log})")
    after = stub.stats()
    deleted, put = after["deleted"] - base["deleted"], after["put"] - base["put"]
    if put < deleted:
        raise Unavailable(f"invalid: {deleted:,} deleted but only {put:,} PUTs")
    result = {"rate": (last[1] - first[1]) / (last[0] - first[0]), "cpu": usage.cpu_s * 1000 / max(deleted, 1),
              "trickled": after.get("deleted_trickle", 0) - base.get("deleted_trickle", 0)}
    log(f"  -> {result['rate']:,.0f} jobs/s, {result['cpu']:.3f} CPU s per 1,000 jobs ({deleted:,} jobs in all)")
    return result


# The worker on two queues: `default` with its endless backlog, and `mailers` either
# empty (each receive waits its whole long poll) or a trickle (one message per 20 ms).
QUEUE_MODES = {
    "default alone": {},
    "weighted, mailers empty": {"mailers": "bench-mailers-empty", "JOBS_QUEUES": "mailers=3,default=1"},
    "weighted, mailers trickle": {"mailers": "bench-mailers-trickle", "JOBS_QUEUES": "mailers=3,default=1"},
    "strict, mailers empty": {"mailers": "bench-mailers-empty", "JOBS_QUEUES": "mailers,default", "JOBS_QUEUE_ORDER": "strict"},
    "strict, mailers trickle": {"mailers": "bench-mailers-trickle", "JOBS_QUEUES": "mailers,default", "JOBS_QUEUE_ORDER": "strict"},
}
QUEUE_RUNS = int(os.environ.get("BENCH_QUEUE_RUNS", "5"))
# An earlier build of the worker, to show that a change to it costs nothing: it drains
# `default` alone as one more mode, alternating with the others.
BASELINE_WORKER = os.environ.get("BENCH_BASELINE_WORKER", "")
BASELINE_MODE = "default alone, baseline worker"


def b_drain_queues() -> dict[str, list[float]]:
    """Each mode QUEUE_RUNS times, the modes alternating, so that a drift of the machine
    touches them alike; long polling on (JOBS_WAIT_SECONDS=20)."""
    stub = STUB.need()
    modes = dict(QUEUE_MODES)
    baseline = None
    if BASELINE_WORKER:
        # Found before the first run, so a wrong path fails at once.
        baseline = binary(Path(BASELINE_WORKER).name, Path(BASELINE_WORKER).resolve().parent)
        modes[BASELINE_MODE] = {}
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    for run in range(QUEUE_RUNS):
        for mode, settings in modes.items():
            env = stub.env(JOBS_DLQ_URL=stub.dlq_url, JOBS_CONCURRENCY=str(C_STUB), JOBS_WAIT_SECONDS="20")
            if "mailers" in settings:
                env["JOBS_QUEUE_URLS"] = json.dumps({"mailers": f"{stub.url}/000000000000/{settings['mailers']}", "default": stub.queue_url})
                env.update({k: v for k, v in settings.items() if k.startswith("JOBS_")})
            else:
                env["JOBS_QUEUE_URL"] = stub.queue_url
            exe = baseline if mode == BASELINE_MODE else None
            result = drain_rate(f"b-queues-{run + 1}-{mode.replace(' ', '-').replace(',', '')}", env, exe)
            if "trickle" in mode and result["trickled"] == 0:
                raise Unavailable(f"invalid: {mode}: no mailers job was deleted")
            rates[mode].append(result["rate"])
    return rates


def b_drain_raw() -> dict:
    stub = STUB.need()
    base = stub.stats()["put"]
    usage = run_child("b-drain-raw", [binary("bench-raw"), "drain", "--queue-url", stub.queue_url, "--jobs", str(N_STUB_DRAIN), "--concurrency", str(C_STUB)], stub.env())
    out = usage.json()
    if stub.stats()["put"] - base < N_STUB_DRAIN:
        raise Unavailable("invalid: fewer PUTs than jobs")
    result = {"rate": out["jobs"] / out["seconds"], "cpu": usage.cpu_s * 1000 / out["jobs"]}
    log(f"  -> {result['rate']:,.0f} jobs/s")
    return result


def b_lambda(events: Path, who: str, metrics: str = "on") -> float:
    stub = STUB.need()
    if who == "ours":
        cmd = [binary("bench-lambda-batch"), "--events", str(events), "--rounds", str(LAMBDA_ROUNDS)]
    else:
        cmd = [PY, str(BENCH / "peers/powertools_batch.py"), "--events", str(events), "--rounds", str(LAMBDA_ROUNDS)]
    base = stub.stats()["put"]
    # Job metrics are on unless JOBS_METRICS=off: their embedded-metric-format
    # lines go to stdout, a pipe here as on Lambda.
    usage = run_child(f"b-lambda-{who}-metrics-{metrics}", cmd, stub.env(JOBS_DLQ_URL=stub.dlq_url, JOBS_METRICS=metrics))
    out = usage.json()
    puts = stub.stats()["put"] - base
    if puts < out["batches"] * 10:
        raise Unavailable(f"invalid: {puts:,} PUTs for {out['batches']} batches of 10")
    log(f"  -> {out['ms_per_batch']:.3f} ms per batch")
    return float(out["ms_per_batch"])


def b_lambda_metrics(events: Path) -> dict[str, list[float]]:
    runs: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(QUEUE_RUNS):
        for mode in runs:
            runs[mode].append(b_lambda(events, "ours", metrics=mode))
    return runs


def section_b() -> Section:
    sec = Section("B", "Stub SQS + S3 (answers at once): the client's own speed; 1 KiB upload jobs")
    STUB.start()
    if STUB.error:
        sec.row("all of B", STUB.error)
        return sec
    jobs = jobs_file(N_STUB, 1024, STUB_BUCKET)
    log("B: enqueue, ours")
    ours = attempt("B enqueue ours", lambda: b_enqueue_ours(jobs))
    log("B: enqueue, raw")
    raw = attempt("B enqueue raw", lambda: b_enqueue_raw(jobs))
    log(f"B: enqueue {MILLION:,} lines, ours (peak RSS)")
    million = attempt("B enqueue million", b_enqueue_million)
    log("B: drain, ours")
    d_ours = attempt("B drain ours", b_drain_ours)
    log("B: drain, raw")
    d_raw = attempt("B drain raw", b_drain_raw)
    log(f"B: drain of default beside mailers, {QUEUE_RUNS} alternating runs of each mode")
    queues = attempt("B drain queues", b_drain_queues)
    events = events_file(jobs_file(1000, 1024, STUB_BUCKET))
    log("B: Lambda path, ours")
    l_ours = attempt("B lambda ours", lambda: b_lambda(events, "ours"))
    log("B: Lambda path, powertools")
    l_pt = attempt("B lambda powertools", lambda: b_lambda(events, "powertools"))
    log(f"B: Lambda path, ours, job metrics on and off, {QUEUE_RUNS} alternating runs of each")
    l_metrics = attempt("B lambda metrics", lambda: b_lambda_metrics(events))

    div = lambda o, p: o / p  # noqa: E731
    sec.row(f"enqueue {N_STUB:,} jobs, jobs/s (whole command)", pick(ours, "rate"), pick(raw, "rate"), rate, peer_label="raw", ratio=div, target="≥ 20,000 jobs/s", ok_ours=lambda v: v >= 20_000)
    sec.row("enqueue, jobs/s while sending (stub's counter)", pick(ours, "phase"), pick(raw, "phase"), rate, peer_label="raw", ratio=div)
    sec.row("enqueue, whole command, s", pick(ours, "wall"), pick(raw, "wall"), ms, peer_label="raw", ratio=div)
    sec.row("enqueue, client CPU s per 1,000 jobs", pick(ours, "cpu"), pick(raw, "cpu"), cpu, peer_label="raw", ratio=lambda o, p: p / o)
    sec.row(f"enqueue {MILLION:,} lines of 64 B jobs: peak RSS (VmHWM, sampled every 50 ms), MB", pick(million, "rss_mb"), "—", lambda v: f"{v:.1f}", target="< 50 MB", ok_ours=lambda v: v < 50)
    sec.row(f"enqueue {MILLION:,} lines: jobs/s (whole command)", pick(million, "rate"), "—", rate)
    sec.row(f"drain, jobs/s (C={C_STUB}, {N_STUB_DRAIN:,} jobs)", pick(d_ours, "rate"), pick(d_raw, "rate"), rate, peer_label="raw", ratio=div, target="≥ 10,000 jobs/s", ok_ours=lambda v: v >= 10_000)
    sec.row("drain, client CPU s per 1,000 jobs", pick(d_ours, "cpu"), pick(d_raw, "cpu"), cpu, peer_label="raw", ratio=lambda o, p: p / o)
    if isinstance(queues, dict):
        alone = statistics.median(queues["default alone"])
        for mode, runs in queues.items():
            if mode == "default alone":
                continue
            shown = " / ".join(f"{r:,.0f}" for r in runs)
            if mode == BASELINE_MODE:
                ours_shown = " / ".join(f"{r:,.0f}" for r in queues["default alone"])
                sec.row(f"drain of default alone, this worker vs {BASELINE_WORKER}: median jobs/s (runs {ours_shown} vs {shown})", alone, statistics.median(runs), rate,
                        peer_label="baseline", ratio=div, target="≥ 0.9 × baseline", ok_ratio=lambda r: r >= 0.9)
                continue
            sec.row(f"drain of default, {mode}: median jobs/s (runs {shown})", statistics.median(runs), alone, rate,
                    peer_label="default alone", ratio=div, target="≥ 0.9 × default alone", ok_ratio=lambda r: r >= 0.9)
    else:
        sec.row("drain of default beside mailers", queues)
    sec.row("Lambda path, ms per batch of 10", l_ours, l_pt, ms, peer_label="Powertools", ratio=lambda o, p: p / o, target="Powertools/ours ≥ 5", ok_ratio=lambda r: r >= 5)
    if isinstance(l_metrics, dict):
        on, off = (" / ".join(f"{r:.3f}" for r in l_metrics[m]) for m in ("on", "off"))
        sec.row(f"Lambda path, job metrics on vs off: median ms per batch of 10 (runs {on} vs {off})",
                statistics.median(l_metrics["on"]), statistics.median(l_metrics["off"]), ms,
                peer_label="metrics off", ratio=lambda o, p: o / p, target="on ≤ 1.10 × off", ok_ratio=lambda r: r <= 1.10)
    else:
        sec.row("Lambda path, job metrics on vs off", l_metrics)
    sec.notes += [
        "Enqueue whole command: start-up and the check of the whole file included; while sending: from the first to the last message the stub counted (sampled every 50 ms); raw: its own timer.",
        f"Drain, ours: the stub's `deleted` counter from 1 s after the worker's start to {N_STUB_DRAIN:,} more; raw: its own timer. CPU per 1,000 jobs: wait4 over the process's life, over all it deleted.",
        f"Lambda path: 100 events of 10 records, one warm-up round, then {LAMBDA_ROUNDS} timed; handler code only, no runtime (D has that). Ratio: Powertools/ours.",
        f"Drain of default beside mailers: the worker with JOBS_WAIT_SECONDS=20 on the stub's endless `bench` queue as `default`, and a `mailers` queue that is empty (each receive waits its whole 20 s) or a trickle (one message per 20 ms); {QUEUE_RUNS} runs of each mode, alternating; medians, each against the median of `default alone` (JOBS_QUEUE_URL only) from the same runs. Rate: the stub's deletions on `default` only.",
    ]
    return sec


# ---------------------------------------------------------------------------------------
# C. CPU per job (criterion)

CRITERION_IDS = ("upload_256k_full", "upload_256k_unsigned", "upload_256k_floor", "mail_1k_full", "mail_1k_unsigned", "mail_1k_floor")


def c_run_criterion() -> Optional[str]:
    """Runs the criterion bench; None, or why it did not."""
    if os.environ.get("BENCH_CRITERION", "run") == "read":
        return None
    cargo = shutil.which("cargo")
    if not cargo:
        return "cargo not found"
    log("C: cargo bench -p bench --bench cpu_per_job (a few minutes)")
    try:
        run_child("c-criterion", [cargo, "bench", "-p", "bench", "--bench", "cpu_per_job", "--locked", "--", "--noplot"], base_env(), timeout=3600)
    except Unavailable as e:
        return f"cargo bench {e}"
    return None


def c_estimate(bench_id: str, fresh_after: float) -> Value:
    path = TARGET_DIR / "criterion" / "cpu_per_job" / bench_id / "new" / "estimates.json"
    if not path.exists():
        return f"missing: {rel(path)}"
    if os.environ.get("BENCH_CRITERION", "run") != "read" and path.stat().st_mtime < fresh_after:
        return "stale: not written by this run"
    return json.loads(path.read_text())["mean"]["point_estimate"] / 1000  # ns -> µs


def section_c() -> Section:
    sec = Section("C", "CPU per job (criterion, mean; µs per job)")
    started = time.time()
    failed = c_run_criterion()
    est = {i: (f"failed: {failed}" if failed else c_estimate(i, started)) for i in CRITERION_IDS}
    share = lambda full, unsigned: (full - unsigned) / full  # noqa: E731
    for label, kind, target, ok in (("upload 256 KiB", "upload_256k", "≤ 2 × floor", lambda r: r <= 2), ("mail 1 KiB", "mail_1k", "—", None)):
        full, unsigned, floor = est[f"{kind}_full"], est[f"{kind}_unsigned"], est[f"{kind}_floor"]
        sec.row(f"{label}: full vs floor (base64 decode + sha256)", full, floor, us, peer_label="floor", ratio=lambda o, p: o / p, target=target, ok_ratio=ok)
        sec.row(f"{label}: without signing", unsigned, "—", us)
        sh: Value = share(full, unsigned) if all(isinstance(v, float) for v in (full, unsigned)) else "—"
        sec.row(f"{label}: signing share (full − unsigned)/full", sh, "—", lambda v: f"{v:.0%}")
    if os.environ.get("BENCH_CRITERION") == "read":
        sec.notes.append("BENCH_CRITERION=read: estimates read from target/criterion as they were, not measured in this run.")
    sec.notes.append("full: decode, check and the S3/SES request built and signed against a local no-op endpoint; floor: base64 decode + sha256 only.")
    return sec


# ---------------------------------------------------------------------------------------
# D. Cold start


def d_coldstart(exe: str, event: Path, who: str, runs: int = COLD_RUNS) -> dict:
    stub = STUB.need()
    cmd = [PY, str(BENCH / "coldstart.py"), "--binary", exe, "--runs", str(runs), "--event", str(event), "--log", str(WORK / f"d-{who}.binary.log"),
           "--env", f"JOBS_DLQ_URL={stub.dlq_url}", "--env", f"AWS_ENDPOINT_URL={stub.url}"]
    base = stub.stats()["put"]
    out = run_child(f"d-coldstart-{who}", cmd, stub.env()).json()
    if out["errors"]:
        raise Unavailable(f"invalid: {out['errors']} invocations posted an error (see {WORK / f'd-{who}.binary.log'})")
    if who == "handler" and (puts := stub.stats()["put"] - base) < 2 * runs:
        raise Unavailable(f"invalid: {puts} PUTs for {2 * runs} upload jobs (see {WORK / f'd-{who}.binary.log'})")
    log(f"  -> init {out['init_ms']:.2f} ms, first {out['first_ms']:.2f} ms, warm {out['warm_ms']:.2f} ms")
    return out


COLD_ROUNDS = 4


def d_alternating(event: Path) -> tuple[object, object]:
    """The handler's and hello's starts in COLD_ROUNDS alternating rounds of
    COLD_RUNS / COLD_ROUNDS each, so that a change in the machine's speed
    during the section reaches both; each figure is the median of the rounds'
    medians."""
    per_round = max(1, COLD_RUNS // COLD_ROUNDS)
    rounds: dict[str, list] = {"handler": [], "hello": []}
    for n in range(COLD_ROUNDS):
        for who, exe in (("handler", "handler"), ("hello", "bench-hello")):
            log(f"D: cold start, {who}, round {n + 1} of {COLD_ROUNDS}")
            rounds[who].append(attempt(f"D {who}", lambda: d_coldstart(binary(exe, LAMBDA_BIN_DIR), event, who, per_round)))

    def combine(results: list) -> object:
        failed = next((r for r in results if not isinstance(r, dict)), None)
        if failed is not None:
            return failed
        return {k: statistics.median(r[k] for r in results) for k in ("init_ms", "first_ms", "warm_ms")}

    return combine(rounds["handler"]), combine(rounds["hello"])


def section_d() -> Section:
    sec = Section("D", f"Cold start (fake Runtime API, {COLD_RUNS} runs, medians; ms)")
    event = first_event(jobs_file(1, 256, STUB_BUCKET))
    h, hello = d_alternating(event)
    div = lambda o, p: o / p  # noqa: E731
    sec.row("init: start to first poll of the Runtime API", pick(h, "init_ms"), pick(hello, "init_ms"), ms, peer_label="hello", ratio=div, target="≤ 2 × hello", ok_ratio=lambda r: r <= 2)
    sec.row("first invocation vs warm (one upload)", pick(h, "first_ms"), pick(h, "warm_ms"), ms, peer_label="warm", ratio=div, target="≤ 1.2 × warm", ok_ratio=lambda r: r <= 1.2)
    sec.row("warm invocation", pick(h, "warm_ms"), pick(hello, "warm_ms"), ms, peer_label="hello", ratio=div)
    # What the runtime alone costs on its first invocation: the floor of the ratio above.
    sec.row("hello: first invocation vs warm", pick(hello, "first_ms"), pick(hello, "warm_ms"), ms, peer_label="warm", ratio=div)
    sec.notes.append("The event: one SQS record with an upload job of 256 bytes, its PUT answered by the stub; hello gets the same event and echoes it.")
    sec.notes.append(f"{COLD_ROUNDS} alternating rounds of {max(1, COLD_RUNS // COLD_ROUNDS)} starts each, handler then hello; each figure is the median of its rounds' medians.")
    return sec


# ---------------------------------------------------------------------------------------
# E. Memory and size


def peak_rss_kib(exe: str, event: Path, extra_env: list[str], name: str) -> int:
    """One invocation under coldstart.py's Runtime API; VmHWM read after the response."""
    server = coldstart.RuntimeServer(("127.0.0.1", 0), coldstart.Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    run = coldstart.Run(event.read_bytes(), invocations=1)
    server.run = run
    logf = open(WORK / f"{name}.log", "wb")
    env = coldstart.child_env(server.server_address[1], exe, extra_env)
    proc = subprocess.Popen([exe], env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
    try:
        deadline = time.monotonic() + 60
        with run.cond:
            while not run.done:
                if run.init_error is not None or proc.poll() is not None or time.monotonic() > deadline:
                    raise Unavailable(f"failed: no response (see {WORK / f'{name}.log'})")
                run.cond.wait(0.05)
        if run.errors:
            raise Unavailable(f"invalid: the invocation posted an error (see {WORK / f'{name}.log'})")
        status = Path(f"/proc/{proc.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    finally:
        proc.kill()
        proc.wait()
        run.over.set()
        server.shutdown()
        server.server_close()
        logf.close()


def e_rss(exe_name: str, event: Path) -> float:
    stub = STUB.need()
    exe = binary(exe_name, LAMBDA_BIN_DIR)
    base = stub.stats()["put"]
    log(f"  e-rss-{exe_name}: one invocation, 10 x 256 KiB uploads")
    kib = peak_rss_kib(exe, event, [f"JOBS_DLQ_URL={stub.dlq_url}", f"AWS_ENDPOINT_URL={stub.url}"], f"e-rss-{exe_name}")
    if exe_name == "handler" and (puts := stub.stats()["put"] - base) < 10:
        raise Unavailable(f"invalid: {puts} PUTs for 10 upload jobs (see {WORK / f'e-rss-{exe_name}.log'})")
    log(f"  -> VmHWM {kib / 1024:.1f} MB")
    return kib / 1024


def section_e() -> Section:
    sec = Section("E", "Memory and size")
    event = first_event(jobs_file(10, 256 * 1024, STUB_BUCKET))
    log("E: peak RSS, handler and bench-hello")
    h = attempt("E handler", lambda: e_rss("handler", event))
    hello = attempt("E hello", lambda: e_rss("bench-hello", event))
    sec.row("peak RSS (VmHWM), MB, one batch of 10 × 256 KiB uploads", h, hello, mb, peer_label="hello", ratio=lambda o, p: o / p, target="≤ 30 MB", ok_ours=lambda v: v <= 30)
    zipf = TARGET_DIR / "lambda" / "handler" / "bootstrap.zip"
    if zipf.exists():
        size = zipf.stat().st_size
        built = datetime.datetime.fromtimestamp(zipf.stat().st_mtime, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        sec.row("arm64 zip (bootstrap.zip), MB", size / 1048576, "—", lambda v: f"{v:.2f} ({size:,} bytes)", target="≤ 3 MB", ok_ours=lambda v: v <= 3)
        sec.notes.append(f"{rel(zipf)} built {built}.")
        # The worker's PutMetricData code must not reach the Lambda binary: the
        # CloudWatch client's operation names are absent from it.
        with zipfile.ZipFile(zipf) as archive:
            found = [n for n in (b"PutMetricData", b"GetMetricData") if n in archive.read("bootstrap")]
        sec.row("CloudWatch API names in the Lambda binary (PutMetricData, GetMetricData)", len(found), "—",
                lambda v: "none" if v == 0 else ", ".join(n.decode() for n in found), target="none", ok_ours=lambda v: v == 0)
    else:
        sec.row("arm64 zip (bootstrap.zip), MB", "not built", target="≤ 3 MB")
    # The same binary built without the handler's `http` feature: no HTTP
    # client, TLS roots or signing secrets' reads.
    bare = TARGET_DIR / "lambda" / "handler" / "bootstrap-without-http.zip"
    if bare.exists():
        size_bare = bare.stat().st_size
        sec.row("arm64 zip without the `http` feature, MB", size_bare / 1048576, "—",
                lambda v: f"{v:.2f} ({size_bare:,} bytes)", target="≤ 2.6 MB", ok_ours=lambda v: v <= 2.6)
        sec.notes.append(f"{rel(bare)}: `make build-lambda LAMBDA_FEATURES=cloudwatch` (default features off but `cloudwatch`).")
    else:
        sec.row("arm64 zip without the `http` feature, MB", "not built", target="≤ 2.6 MB")
    return sec


# ---------------------------------------------------------------------------------------


def header() -> str:
    def sh(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), platform.processor() or "?")
    mem_kib = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")), 0)
    commit = sh("git", "rev-parse", "--short=12", "HEAD") or "?"
    if sh("git", "status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    settings = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("BENCH_") and k != "BENCH_COMMAND")
    command = os.environ.get("BENCH_COMMAND") or " ".join([rel(Path(PY)), rel(Path(sys.argv[0]))] + sys.argv[1:])
    return "\n".join(
        [
            "## Benchmark",
            "",
            f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- commit: {commit}",
            f"- machine: {os.cpu_count()} CPUs ({sh('nproc') or '?'} available), {model}, {mem_kib / 1048576:.1f} GiB memory, {platform.system()} {platform.release()}",
            f"- toolchain: {sh('rustc', '--version') or 'rustc ?'}; Python {platform.python_version()}",
            f"- command: `{(settings + ' ' if settings else '') + command}`",
            "",
        ]
    )


# ---------------------------------------------------------------------------------------
# F. Uploads of any size, on the local emulator


F_MIB = int(os.environ.get("BENCH_LARGE_MIB", "50"))


def peak_while(child: Child, done: Callable[[], bool], timeout: float = TIMEOUT) -> tuple[int, bool]:
    """VmHWM of a running child, sampled every 50 ms until it exits or done() holds."""
    peak, deadline = 0, time.perf_counter() + timeout
    while not child.exited(0.05) and time.perf_counter() < deadline:
        peak = max(peak, vm_hwm_kib(child.proc.pid) or 0)
        if done():
            return peak, True
    return peak, False


def section_f() -> Section:
    endpoint, bucket, payloads = (os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "JOBS_BUCKET", "JOBS_PAYLOAD_BUCKET"))
    sec = Section("F", f"Uploads of any size on the local emulator: a {F_MIB} MiB file staged by `jobs enqueue upload`, copied by `worker` (ledger on)")
    if not endpoint or not bucket or not payloads:
        sec.row("all of F", "skipped: AWS_ENDPOINT_URL, JOBS_BUCKET and JOBS_PAYLOAD_BUCKET unset (run under infra/local/local.sh run)")
        return sec
    emu = Emulator(endpoint)
    env = dict(base_env(), JOBS_IDEMPOTENCY_TABLE=os.environ.get("JOBS_IDEMPOTENCY_TABLE", ""))
    path = WORK / f"f-{F_MIB}mib.bin"
    block = bytes((i * 7 + i // 256) % 256 for i in range(1 << 20))
    with open(path, "wb") as f:
        for _ in range(F_MIB):
            f.write(block)
    key = f"bench-f/{RUN_ID}.bin"
    results: dict[str, Value] = {}
    try:
        url, dlq = emu.queue("f-staged"), emu.queue("f-staged-dlq")

        def enqueue() -> dict:
            log(f"  f-enqueue: jobs enqueue upload --file ({F_MIB} MiB) --payload-bucket {payloads}")
            child = Child("f-enqueue", [binary("jobs"), "enqueue", "upload", "--bucket", bucket, "--key", key, "--file", str(path), "--queue-url", url, "--payload-bucket", payloads], env)
            peak, _ = peak_while(child, lambda: False)
            usage = child.wait(0).check("jobs enqueue upload")
            emu.expect_visible(url, 1)
            return {"rss_mb": peak / 1024, "mib_s": F_MIB / usage.wall_s}

        def copy() -> dict:
            log(f"  f-worker: {rel(Path(binary('worker')))} until {key} exists")
            child = Child("f-worker", [binary("worker")], dict(env, JOBS_QUEUE_URL=url, JOBS_DLQ_URL=dlq, JOBS_WAIT_SECONDS="1"))

            def copied() -> bool:
                try:
                    emu.s3.head_object(Bucket=bucket, Key=key)
                except Exception:  # noqa: BLE001 - not there yet
                    return False
                return emu.counts(url) == (0, 0)

            try:
                peak, ok = peak_while(child, copied)
            finally:
                usage = child.stop()
            if not ok:
                raise Unavailable(f"failed: the copy did not appear (see {usage.log})")
            size = emu.s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
            if size != F_MIB << 20:
                raise Unavailable(f"invalid: the copy is {size} bytes")
            return {"rss_mb": peak / 1024, "wall": usage.wall_s}

        results["enqueue"] = attempt("F enqueue", enqueue)
        results["copy"] = attempt("F copy", copy) if isinstance(results["enqueue"], dict) else "not run: the enqueue failed"
    finally:
        emu.drop_queues()
        try:
            emu.s3.delete_object(Bucket=bucket, Key=key)
        except Exception as e:  # noqa: BLE001 - clean-up only
            log(f"could not delete {key}: {e}")
        path.unlink(missing_ok=True)
    sec.row(f"`jobs enqueue upload` of {F_MIB} MiB, staged: peak RSS (VmHWM), MB", pick(results["enqueue"], "rss_mb"), fmt=mb, target="< 64 MB", ok_ours=lambda v: v < 64)
    sec.row("`jobs enqueue upload`: staging rate, MiB/s (whole command)", pick(results["enqueue"], "mib_s"), fmt=lambda v: f"{v:.1f}")
    sec.row(f"`worker` copying it: peak RSS (VmHWM), MB", pick(results["copy"], "rss_mb"), fmt=mb, target="< 64 MB", ok_ours=lambda v: v < 64)
    sec.notes += [
        "VmHWM read every 50 ms while each process runs. The file goes up in 8 MiB parts, one in memory at a time; the worker copies it server-side (UploadPartCopy) and deletes the staged file once the ledger has the job done.",
    ]
    return sec


SECTIONS = {"A": section_a, "B": section_b, "C": section_c, "D": section_d, "E": section_e, "F": section_f}


def main() -> int:
    only = [s.strip().upper() for s in os.environ.get("BENCH_ONLY", "A,B,C,D,E,F").split(",") if s.strip()]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        print(f"BENCH_ONLY: unknown sections {unknown}; the sections are {','.join(SECTIONS)}", file=sys.stderr)
        return 2
    log(f"sections {','.join(only)}; binaries from {rel(BIN_DIR)}; scratch files in {WORK}")
    # A runs last: after A's load LocalStack kept 0.8 of a core busy (sampled every 2 s
    # through section B, whose enqueue then ran a third slower), and B to E measure the client
    # alone. The tables still print in the order A to E.
    tables: dict[str, str] = {}
    try:
        for key in sorted(only, key=lambda k: k == "A"):  # F, on the emulator too, before A's load
            tables[key] = SECTIONS[key]().markdown()
    finally:
        for child in list(LIVE.values()):
            log(f"stopping {child.name} (pid {child.proc.pid})")
            child.stop(10)
        STUB.stop()
        for f in WORK.glob("*.json*"):  # the inputs can be large; the logs stay
            f.unlink()
    text = "\n".join([header()] + [tables[key] for key in SECTIONS if key in tables])
    out = Path(os.environ.get("BENCH_OUT") or BENCH / "results" / "latest.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    log(f"written to {rel(out)}; children's logs in {WORK}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
