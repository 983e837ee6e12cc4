use aws_lambda_events::event::sqs::SqsEvent;
use handler::{Handler, Settings};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    handler::logging::init();
    let config = producer::aws::load_config().await;
    let handler = Handler::new(&config, Settings::from_env()?);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        handler
            .handle_sqs_event(event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
