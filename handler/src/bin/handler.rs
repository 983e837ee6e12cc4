//! The shipped Lambda function: the built-in `mail` and `upload` jobs.

#[tokio::main]
async fn main() -> Result<(), handler::RunError> {
    handler::Runner::new().lambda().await
}
