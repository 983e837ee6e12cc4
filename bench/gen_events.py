#!/usr/bin/env python3
"""Turn a JSON Lines file of envelopes into SQS Lambda events, 10 records per event.

Writes one JSON file holding a list of events, each {"Records": [...]} in the shape Lambda's
SQS event source mapping delivers (messageId, receiptHandle, body, attributes,
messageAttributes, md5OfBody, eventSource "aws:sqs", eventSourceARN, awsRegion). The input
of powertools_batch.py, and any event of it is a valid --event for coldstart.py
(`python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))[0], sys.stdout)' EVENTS`).

  python3 bench/gen_events.py --jobs-file jobs.jsonl --out events.json
"""
import argparse
import base64
import hashlib
import json
import os
import time
import uuid


def record(body: str, arn: str, region: str, now_ms: int) -> dict:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": base64.b64encode(os.urandom(96)).decode("ascii"),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(now_ms),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(now_ms + 5),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode("utf-8")).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs-file", required=True, help="JSON Lines, one envelope per line")
    ap.add_argument("--out", required=True, help="JSON file: a list of SQS events")
    ap.add_argument("--per-event", type=int, default=10, help="records per event (10)")
    ap.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    ap.add_argument("--queue-name", default="jobs-bench")
    a = ap.parse_args()

    arn = f"arn:aws:sqs:{a.region}:123456789012:{a.queue_name}"
    now_ms = int(time.time() * 1000)
    with open(a.jobs_file, encoding="utf-8") as f:
        bodies = [line.rstrip("\n") for line in f if line.strip()]
    events = [
        {"Records": [record(b, arn, a.region, now_ms) for b in bodies[i : i + a.per_event]]}
        for i in range(0, len(bodies), a.per_event)
    ]
    with open(a.out, "w", encoding="utf-8") as out:
        json.dump(events, out, separators=(",", ":"))


if __name__ == "__main__":
    main()
