#!/usr/bin/env python3
"""boto3 producer peer: how fast boto3 enqueues a JSON Lines file of job envelopes.

Each line is sent as is as one message body, with SendMessageBatch (10 per call) from
T threads, one boto3 SQS client per thread. The file is read and the clients are created
before timing starts; the time covers sending every batch. Every response's Failed list is
checked: any failed entry is counted and makes the exit status 1.

Prints one JSON line: {"jobs": n, "seconds": s}.
Endpoint from AWS_ENDPOINT_URL (boto3 honours it), region from AWS_REGION/AWS_DEFAULT_REGION.

  python3 bench/peers/enqueue.py --queue-url URL --file jobs.jsonl --threads 8
"""
import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queue-url", required=True)
    ap.add_argument("--file", required=True, help="JSON Lines, one envelope per line")
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args()

    with open(a.file, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    batches = [lines[i : i + 10] for i in range(0, len(lines), 10)]
    # One session per client: boto3 sessions are not thread-safe, clients are.
    clients = [boto3.session.Session().client("sqs", region_name=region()) for _ in range(a.threads)]

    next_batch = iter(batches)
    lock = threading.Lock()

    def send_all(sqs) -> tuple[int, int]:
        sent = failed = 0
        while True:
            with lock:
                batch = next(next_batch, None)
            if batch is None:
                return sent, failed
            resp = sqs.send_message_batch(
                QueueUrl=a.queue_url,
                Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(batch)],
            )
            for f in resp.get("Failed", []):
                print(f"failed: {f}", file=sys.stderr)
            failed += len(resp.get("Failed", []))
            sent += len(resp.get("Successful", []))

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=a.threads) as pool:
        results = [fut.result() for fut in [pool.submit(send_all, c) for c in clients]]
    seconds = time.perf_counter() - start

    sent = sum(s for s, _ in results)
    failed = sum(f for _, f in results)
    print(json.dumps({"jobs": sent, "seconds": round(seconds, 6)}))
    if failed or sent != len(lines):
        print(f"enqueue: {failed} failed, {sent} of {len(lines)} sent", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
