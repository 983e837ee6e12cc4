#!/usr/bin/env python3
"""Lambda-path peer: Powertools for AWS Lambda's batch utility running SQS upload events.

The handler is what a Python team would deploy: BatchProcessor(EventType.SQS) with
process_partial_response, a record handler doing the same upload work as worker.py
(json.loads the body, base64-decode, check sha256, put_object with ChecksumSHA256), and an
S3 client made once at import, as in Lambda. It is called in-process on each event of the
file (see gen_events.py) with a minimal fake Lambda context: one warm-up round, then
--rounds timed rounds. The figure is the warm handler time per 10-record batch; Lambda's
own overhead and cold start are not in it (coldstart.py measures those for a binary).
Any record reported in batchItemFailures makes the exit status 1.

Prints one JSON line: {"batches": n, "ms_per_batch": x}.
Endpoint from AWS_ENDPOINT_URL, region from AWS_REGION/AWS_DEFAULT_REGION.

  python3 bench/peers/powertools_batch.py --events events.json --rounds 5
"""
import argparse
import json
import sys
import time

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from worker import region, upload  # the same upload work as the boto3 worker peer

s3 = boto3.client("s3", region_name=region())
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    upload(s3, record.body)


def lambda_handler(event: dict, context: object) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


class FakeContext:
    """The attributes of a Lambda context object that Powertools may read."""

    function_name = "jobs-bench-powertools"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:jobs-bench-powertools"
    memory_limit_in_mb = 128
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/jobs-bench-powertools"
    log_stream_name = "2026/11/28/[$LATEST]bench"

    def __init__(self) -> None:
        self._deadline = time.monotonic() + 900

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def run_round(events: list, context: FakeContext) -> int:
    failures = 0
    for event in events:
        failed = lambda_handler(event, context)["batchItemFailures"]
        if failed:
            print(f"batchItemFailures: {failed}; first error: {processor.exceptions[:1]}", file=sys.stderr)
        failures += len(failed)
    return failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", required=True, help="JSON file: a list of SQS events")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()

    with open(a.events, encoding="utf-8") as f:
        events = json.load(f)
    context = FakeContext()
    failures = run_round(events, context)  # warm-up: connections, lazy imports
    start = time.perf_counter()
    for _ in range(a.rounds):
        failures += run_round(events, context)
    seconds = time.perf_counter() - start

    batches = len(events) * a.rounds
    print(json.dumps({"batches": batches, "ms_per_batch": round(seconds * 1000 / max(batches, 1), 4)}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
