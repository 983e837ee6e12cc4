//! The shop's Lambda function: the built-in jobs and the purchase reminder.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = producer::aws::load_config().await;
    let shop = shop::Shop::from_env(&config)?;
    shop::runner(shop).lambda_with_config(&config).await
}
