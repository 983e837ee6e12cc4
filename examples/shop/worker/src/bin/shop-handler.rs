//! The shop's Lambda function: the built-in jobs and the purchase reminder.

#[tokio::main]
async fn main() -> Result<(), handler::RunError> {
    shop_worker::runner().lambda().await
}
