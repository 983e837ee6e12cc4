//! End-to-end tests against the local AWS (LocalStack for SQS and S3, moto for
//! SES v2). `make test` starts it, runs these, and stops it.

mod app;
mod cancel;
mod cli;
mod cli_output;
mod console;
mod crafted;
mod doctor;
mod events;
mod http_jobs;
mod idempotency;
mod lambda_binary;
mod large_jobs;
mod library;
mod named_queues;
mod operations;
mod own_jobs;
mod periodic;
mod pipeline;
mod readme;
mod retries;
mod scheduled;
mod tls;
mod worker_signal;
