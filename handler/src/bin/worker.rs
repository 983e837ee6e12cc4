//! The shipped worker: the built-in `mail` and `upload` jobs, long-polling
//! `JOBS_QUEUE_URL` until SIGTERM or Ctrl-C.

#[tokio::main]
async fn main() -> Result<(), handler::RunError> {
    handler::Runner::new().worker().await
}
