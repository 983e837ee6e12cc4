#!/usr/bin/env python3
"""boto3 worker peer: how fast a plain threaded boto3 worker runs N upload jobs off SQS.

A naive but fair worker, as a Python team would write it: T threads, each with its own SQS
and S3 client (made before timing starts), loop
  ReceiveMessage(MaxNumberOfMessages=10, WaitTimeSeconds=1)
  -> per message: json.loads the body, base64-decode job.body_base64, check job.sha256 with
     hashlib, put_object(Bucket, Key, Body, ChecksumSHA256=base64 of the digest)
  -> DeleteMessageBatch of the batch
until N messages were processed in total (a shared counter). The time runs from starting
the threads to the moment the counter reaches N. A checksum mismatch, a failed delete or any
error stops every thread and exits 1; so does not reaching N within --timeout seconds.

Prints one JSON line: {"jobs": n, "seconds": s}.
Endpoint from AWS_ENDPOINT_URL, region from AWS_REGION/AWS_DEFAULT_REGION.

  python3 bench/peers/worker.py --queue-url URL --jobs 1000 --threads 8
"""
import argparse
import base64
import hashlib
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def upload(s3, body: str) -> None:
    """The upload job: decode, check the sha256, put the object with its checksum."""
    job = json.loads(body)["job"]
    data = base64.b64decode(job["body_base64"], validate=True)
    digest = hashlib.sha256(data).digest()
    if digest.hex() != job["sha256"]:
        raise ValueError(f"sha256 mismatch for {job['bucket']}/{job['key']}")
    s3.put_object(
        Bucket=job["bucket"],
        Key=job["key"],
        Body=data,
        ChecksumSHA256=base64.b64encode(digest).decode("ascii"),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queue-url", required=True)
    ap.add_argument("--jobs", type=int, required=True, help="stop after this many messages")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    a = ap.parse_args()

    clients = []
    for _ in range(a.threads):
        session = boto3.session.Session()  # sessions are not thread-safe, clients are
        clients.append((session.client("sqs", region_name=region()), session.client("s3", region_name=region())))

    lock = threading.Lock()
    stop = threading.Event()
    state = {"done": 0, "end": None}

    def work(sqs, s3) -> None:
        try:
            while not stop.is_set():
                msgs = sqs.receive_message(
                    QueueUrl=a.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
                if not msgs:
                    continue
                for m in msgs:
                    upload(s3, m["Body"])
                resp = sqs.delete_message_batch(
                    QueueUrl=a.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)],
                )
                if resp.get("Failed"):
                    raise RuntimeError(f"DeleteMessageBatch failed: {resp['Failed']}")
                with lock:
                    state["done"] += len(msgs)
                    if state["done"] >= a.jobs and state["end"] is None:
                        state["end"] = time.perf_counter()
                        stop.set()
        except BaseException:
            stop.set()
            raise

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=a.threads) as pool:
        futures = [pool.submit(work, sqs, s3) for sqs, s3 in clients]
        if not stop.wait(a.timeout):
            stop.set()
            print(f"worker: timed out after {a.timeout} s with {state['done']} of {a.jobs} jobs", file=sys.stderr)
        for fut in futures:
            fut.result()  # re-raises the first error of any thread
    if state["end"] is None:
        return 1
    print(json.dumps({"jobs": state["done"], "seconds": round(state["end"] - start, 6)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
