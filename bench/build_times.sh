#!/usr/bin/env bash
# `make build-times`: what an application that only enqueues pays to build, in one run.
#
# Three clean debug builds, one after the other, each in a target directory of its own,
# with the versions of this repository's Cargo.lock (no registry needed):
#   shop-web   the shop's axum app (examples/shop/web): producer, shop-jobs, axum;
#   bare       an app with aws-sdk-sqs, aws-config, tokio, serde, schemars, uuid and jiff,
#              and the same HTTPS client as producer (rustls on ring), sending one message;
#   bare+axum  the same with axum, as shop-web has it.
# For each: the wall time of `cargo build` and the distinct packages of its normal
# dependencies (`cargo tree -e normal --prefix none`, each once). Prints a markdown table.
set -euo pipefail
shopt -s inherit_errexit

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo=${CARGO:-cargo}

# One crate of the bare kind: $1 its directory, $2 "axum" to add axum.
bare_crate() {
  local dir=$1 with_axum=${2:-}
  mkdir -p "$dir/src"
  cat > "$dir/Cargo.toml" <<EOF
[package]
name = "bare"
version = "0.1.0"
edition = "2024"
rust-version = "1.95"
publish = false

[dependencies]
aws-config = { version = "1.13.0", default-features = false, features = ["rt-tokio", "behavior-version-latest", "sso"] }
aws-sdk-sqs = { version = "1.119.0", default-features = false, features = ["rt-tokio", "behavior-version-latest"] }
aws-smithy-http-client = { version = "1.5.2", default-features = false, features = ["rustls-ring", "rt-tokio"] }
tokio = { version = "1.54.1", features = ["macros", "rt-multi-thread"] }
serde = { version = "1.0.229", features = ["derive"] }
schemars = "1.2.3"
uuid = { version = "1.29.3", features = ["v4"] }
jiff = { version = "1.0.2", default-features = false, features = ["std"] }
EOF
  if [ "$with_axum" = axum ]; then
    echo 'axum = { version = "0.8", default-features = false, features = ["http1", "tokio", "json"] }' >> "$dir/Cargo.toml"
  fi
  cat > "$dir/src/main.rs" <<'EOF'
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Job {
    id: String,
    created_at: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https)
        .load()
        .await;
    let job = Job {
        id: uuid::Uuid::new_v4().to_string(),
        created_at: jiff::Timestamp::now().to_string(),
    };
    aws_sdk_sqs::Client::new(&config)
        .send_message()
        .queue_url(std::env::var("JOBS_QUEUE_URL")?)
        .message_body(format!("{{\"id\":\"{}\",\"created_at\":\"{}\"}}", job.id, job.created_at))
        .send()
        .await?;
    Ok(())
}
EOF
  cp "$root/Cargo.lock" "$dir/Cargo.lock"
}

packages() {
  "$cargo" tree --offline -e normal --prefix none "$@" | sed 's/ (\*)$//' | sort -u | wc -l
}

# Wall seconds of a clean build: $1 the target directory, the rest cargo's arguments.
timed_build() {
  local target=$1 start end
  shift
  start=$(date +%s.%N)
  CARGO_TARGET_DIR=$target "$cargo" build --offline -q "$@" >&2
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }'
}

bare_crate "$work/bare"
bare_crate "$work/bare-axum" axum

echo "[build-times] shop-web" >&2
web_s=$(timed_build "$work/target-web" --locked -p shop-web --manifest-path "$root/Cargo.toml")
web_n=$(packages -p shop-web --manifest-path "$root/Cargo.toml")
echo "[build-times] bare" >&2
bare_s=$(timed_build "$work/target-bare" --manifest-path "$work/bare/Cargo.toml")
bare_n=$(packages --manifest-path "$work/bare/Cargo.toml")
echo "[build-times] bare+axum" >&2
axum_s=$(timed_build "$work/target-bare-axum" --manifest-path "$work/bare-axum/Cargo.toml")
axum_n=$(packages --manifest-path "$work/bare-axum/Cargo.toml")

cat <<EOF
- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$root" rev-parse --short=12 HEAD)
- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $("$cargo" --version)
- command: \`make build-times\` (clean debug builds, one after the other)

| app | clean \`cargo build\`, s | distinct packages (normal) |
|---|---:|---:|
| shop-web (producer, shop-jobs, axum) | $web_s | $web_n |
| bare (aws-sdk-sqs, aws-config, tokio, serde, schemars, uuid, jiff) | $bare_s | $bare_n |
| bare + axum | $axum_s | $axum_n |
EOF
