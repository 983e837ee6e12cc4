#!/usr/bin/env python3
"""Write N upload-job envelopes as JSON Lines: the input of every producer/worker run.

Each line is one full version-1 envelope (an SQS message body as is):
  {"version":1,"id":"<uuid>","kind":"upload","created_at":"<RFC 3339 now>",
   "job":{"bucket":B,"key":"bench/<i>","body_base64":...,"sha256":...}}
with B fresh random bytes per job. Streams to the file, so a million small jobs is fine.

  python3 bench/gen_jobs.py --count 1000 --bytes 1024 --bucket bench --out /tmp/jobs.jsonl
"""
import argparse
import base64
import datetime
import hashlib
import json
import os
import uuid


def envelope(i: int, body: bytes, bucket: str, created_at: str) -> str:
    return json.dumps(
        {
            "version": 1,
            "id": str(uuid.uuid4()),
            "kind": "upload",
            "created_at": created_at,
            "job": {
                "bucket": bucket,
                "key": f"bench/{i}",
                "body_base64": base64.b64encode(body).decode("ascii"),
                "sha256": hashlib.sha256(body).hexdigest(),
            },
        },
        separators=(",", ":"),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, required=True, help="number of jobs")
    ap.add_argument("--bytes", type=int, required=True, help="random bytes per job")
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--out", required=True, help="JSON Lines file to write")
    a = ap.parse_args()
    if a.count < 0 or a.bytes < 0:
        ap.error("--count and --bytes must be >= 0")
    created_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(a.out, "w", encoding="ascii", buffering=1 << 20) as out:
        for i in range(a.count):
            out.write(envelope(i, os.urandom(a.bytes), a.bucket, created_at))
            out.write("\n")


if __name__ == "__main__":
    main()
