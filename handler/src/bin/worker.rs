//! The shipped worker: the built-in `mail` and `upload` jobs, long-polling
//! `JOBS_QUEUE_URL`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    handler::Runner::new().worker().await
}
