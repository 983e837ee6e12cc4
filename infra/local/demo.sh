#!/usr/bin/env bash
# The main job, end to end on the local AWS: start it (unless it is up), start
# the shop example's worker (the built-in jobs and the purchase reminder) and
# its web app, enqueue a mail, an upload, a delayed job, a poison message and,
# through the web app's route, two purchase reminders (product 42 is paid, 7 is
# not), wait for their effects and show them. Exits non-zero if an effect is missing, and stops what it started, also
# on Ctrl-C.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
local_sh=infra/local/local.sh
state=.local
bin=target/debug
delay=10
timeout_s=${DEMO_TIMEOUT:-90}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$'; printf ' %q' "$@"; printf '\n'; "$@"; }

started_local=no
worker_pid=""
web_pid=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "$worker_pid" "$web_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ "$started_local" = yes ]; then "$local_sh" down; fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo; echo "interrupted"; exit 130' INT TERM

if [ ! -f "$state/env" ]; then
  started_local=yes
  "$local_sh" up
fi
# shellcheck disable=SC1091
. "$state/env"
aws() { "$root/.venv/tools/bin/aws" --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }

say "starting the shop's worker: the built-in jobs and the purchase reminder (logs: $state/demo-worker.log)"
JOBS_WAIT_SECONDS=1 "$bin/shop-worker" > "$state/demo-worker.log" 2>&1 &
worker_pid=$!

web_port=${DEMO_WEB_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
web="http://127.0.0.1:$web_port"
say "starting the shop's web app on $web (logs: $state/demo-web.log)"
SHOP_WEB_ADDR="127.0.0.1:$web_port" "$bin/shop-web" > "$state/demo-web.log" 2>&1 &
web_pid=$!

run_id="$(date +%s)-$$"
mkdir -p "$state/demo"
report="$state/demo/orders-$run_id.csv"
printf 'order,product,total\n1001,42,19.99\n1002,7,5.00\n' > "$report"

say "enqueueing four jobs"
run "$bin/jobs" enqueue mail --id "demo-mail-$run_id" --to "Ann <ann@example.com>" \
  --subject "Your product is about to expire! ($run_id)" \
  --text "Product 42 expires in 3 days. Renew it to keep it running."
run "$bin/jobs" enqueue upload --id "demo-upload-$run_id" --key "demo/$run_id/orders.csv" \
  --file "$report" --metadata source=demo
delayed_at=$(date +%s.%N)
run "$bin/jobs" enqueue --delay "$delay" mail --id "demo-delayed-$run_id" --to ann@example.com \
  --subject "A reminder that waited ${delay} s ($run_id)" --text "Sent after its delay."
poison="{\"version\":1,\"id\":\"demo-poison-$run_id\",\"kind\":\"fax\",\"created_at\":\"2026-11-28T04:21:00Z\",\"job\":{\"number\":\"+15550100\"}}"
echo "\$ aws sqs send-message --queue-url \"\$JOBS_QUEUE_URL\" --message-body '$poison'"
aws sqs send-message --queue-url "$JOBS_QUEUE_URL" --message-body "$poison" --query MessageId --output text

mails_to() { # address -> how many mails moto has recorded to it
  curl -fsS "$MOTO_URL/moto-api/data.json" | python3 -c '
import json, sys
print(sum(sys.argv[1] in m.get("destinations", {}).get("ToAddresses", [])
          for m in json.load(sys.stdin).get("ses", {}).get("Message", [])))' "$1"
}
last_mail_to() { # address -> the last mail moto recorded to it, as JSON
  curl -fsS "$MOTO_URL/moto-api/data.json" | python3 -c '
import json, sys
mails = [m for m in json.load(sys.stdin).get("ses", {}).get("Message", [])
         if sys.argv[1] in m.get("destinations", {}).get("ToAddresses", [])]
print(json.dumps(mails[-1]) if mails else "")' "$1"
}
reminder_logged() { # product id, status -> the worker log line that says so, or nothing
  grep -F "\"PurchaseReminder: product $1 - $2\"" "$state/demo-worker.log" | tail -n 1 || true
}

moto_mail() { # subject-fragment -> the first mail moto recorded with it, as JSON, or nothing
  curl -fsS "$MOTO_URL/moto-api/data.json" | python3 -c '
import json, sys
for m in json.load(sys.stdin).get("ses", {}).get("Message", []):
    if sys.argv[1] in m.get("subject", ""):
        print(json.dumps(m)); break' "$1"
}
dead_letter() { # job id -> the dead letter's attributes and body, as JSON, or nothing
  aws sqs receive-message --queue-url "$JOBS_DLQ_URL" --max-number-of-messages 10 \
    --visibility-timeout 0 --message-attribute-names All --output json | python3 -c '
import json, sys
data = sys.stdin.read().strip()
for m in (json.loads(data) if data else {}).get("Messages", []):
    attrs = {k: v.get("StringValue") for k, v in m.get("MessageAttributes", {}).items()}
    if attrs.get("jobs.id") == sys.argv[1]:
        print(json.dumps({"body": m["Body"], "attributes": attrs})); break' "$1"
}

say "two purchase reminders, through the web app's route, as the seed's controller (PurchaseReminder::enqueue)"
echo "products in the local table: 42, paid, owner ann@example.com; 7, not paid, owner bob@example.com"
bob_before=$(mails_to bob@example.com)
not_sent_before=$(grep -cF '"PurchaseReminder: product 42 - reminder not sent"' "$state/demo-worker.log" || true)
sent_before=$(grep -cF '"PurchaseReminder: product 7 - reminder sent"' "$state/demo-worker.log" || true)
for i in $(seq 1 50); do
  curl -s -o /dev/null "$web/" && break
  kill -0 "$web_pid" 2>/dev/null || { cat "$state/demo-web.log"; echo "the web app exited"; exit 1; }
  sleep 0.2
done
for product in 42 7; do
  echo "\$ curl -X POST $web/products/$product/remind"
  curl -fsS -X POST "$web/products/$product/remind"
  echo
done

say "waiting for the effects (up to ${timeout_s} s)"
mail="" object="" delayed="" dead="" reminded="" not_reminded=""
deadline=$(( $(date +%s) + timeout_s ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  [ -n "$mail" ] || mail=$(moto_mail "about to expire! ($run_id)")
  [ -n "$object" ] || object=$(aws s3api head-object --bucket "$JOBS_BUCKET" --key "demo/$run_id/orders.csv" \
    --output json 2>/dev/null || true)
  [ -n "$delayed" ] || delayed=$(moto_mail "waited ${delay} s ($run_id)")
  [ -n "$dead" ] || dead=$(dead_letter "demo-poison-$run_id")
  if [ -z "$reminded" ] && [ "$(mails_to bob@example.com)" -gt "$bob_before" ] &&
     [ "$(grep -cF '"PurchaseReminder: product 7 - reminder sent"' "$state/demo-worker.log" || true)" -gt "$sent_before" ]; then
    reminded=$(last_mail_to bob@example.com)
  fi
  if [ -z "$not_reminded" ] &&
     [ "$(grep -cF '"PurchaseReminder: product 42 - reminder not sent"' "$state/demo-worker.log" || true)" -gt "$not_sent_before" ]; then
    not_reminded=yes
  fi
  if [ -n "$mail" ] && [ -n "$object" ] && [ -n "$delayed" ] && [ -n "$dead" ] &&
     [ -n "$reminded" ] && [ -n "$not_reminded" ]; then break; fi
  sleep 1
done

show_mail() { # a mail as moto recorded it (JSON) -> its sender, recipients, subject and body
  python3 -c 'import json,sys; m=json.loads(sys.argv[1]); d=m["destinations"]
print("from:    ", m["source"]); print("to:      ", ", ".join(d.get("ToAddresses", [])))
print("subject: ", m["subject"]); print("body:    ", m["body"])' "$1"
}

missing=0
say "the mail, as the SES emulator recorded it"
if [ -n "$mail" ]; then
  show_mail "$mail"
else echo "MISSING: no mail was recorded"; missing=1; fi

say "the upload, in S3"
if [ -n "$object" ]; then
  python3 -c 'import json,sys; o=json.loads(sys.argv[1])
print("object:   s3://%s/%s" % (sys.argv[2], sys.argv[3])); print("size:    ", o["ContentLength"], "bytes")
print("type:    ", o.get("ContentType")); print("metadata:", o.get("Metadata"))' "$object" "$JOBS_BUCKET" "demo/$run_id/orders.csv"
else echo "MISSING: the object was not written"; missing=1; fi

say "the delayed job"
if [ -n "$delayed" ]; then
  python3 -c '
import json, sys, datetime
enqueued = float(sys.argv[2])
for line in open(sys.argv[1]):
    try: entry = json.loads(line)
    except ValueError: continue
    if entry.get("job_id") == sys.argv[3] and entry.get("outcome") == "done":
        ran = datetime.datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
        print("enqueued with a %s s delay; it ran %.1f s after it was enqueued" % (sys.argv[4], ran - enqueued))
        break' "$state/demo-worker.log" "$delayed_at" "demo-delayed-$run_id" "$delay"
  python3 -c 'import json,sys; print("subject: ", json.loads(sys.argv[1])["subject"])' "$delayed"
else echo "MISSING: the delayed mail was not sent"; missing=1; fi

say "the poison message, in the dead-letter queue with its reason"
if [ -n "$dead" ]; then
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); a=d["attributes"]
print("body:    ", d["body"])
for k in ("jobs.error.class", "jobs.error.code", "jobs.error.message", "jobs.receive_count", "jobs.failed_at"):
    print("%-24s %s" % (k + ":", a.get(k)))' "$dead"
else echo "MISSING: the poison message is not in the dead-letter queue"; missing=1; fi

say "the purchase reminders: product 7 (not paid) reminded, product 42 (paid) not"
if [ -n "$reminded" ]; then
  show_mail "$reminded"
else echo "MISSING: no reminder mail to bob@example.com (product 7)"; missing=1; fi
if [ -n "$not_reminded" ]; then
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    try: entry = json.loads(line)
    except ValueError: continue
    if entry.get("kind") == "purchase_reminder" and entry.get("outcome") == "skipped":
        last = entry
print("product 42: outcome %s, reason: %s" % (last["outcome"], last["reason"]))' "$state/demo-worker.log"
else echo "MISSING: the worker did not log product 42 as not reminded"; missing=1; fi
echo "the job's own log lines (the seed's PurchaseReminderJob logs the same):"
for line in "$(reminder_logged 7 "reminder sent")" "$(reminder_logged 42 "reminder not sent")"; do
  if [ -n "$line" ]; then python3 -c 'import json,sys; print("  ", json.loads(sys.argv[1])["message"])' "$line"; fi
done

say "what the worker logged"
grep -E "demo-[a-z]+-$run_id|purchase_reminder|PurchaseReminder" "$state/demo-worker.log" || true

if [ "$missing" -ne 0 ]; then
  echo; echo "demo FAILED: an expected effect is missing (worker log: $state/demo-worker.log)"
  exit 1
fi
echo; echo "demo passed: mail sent, upload stored, delayed job ran after its delay, poison message dead-lettered, reminder (enqueued through the web app) sent for product 7 and not for paid product 42"
