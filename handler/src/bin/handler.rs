//! The shipped Lambda function: the built-in `mail` and `upload` jobs.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    handler::Runner::new().lambda().await
}
