use std::process::ExitCode;

use handler::worker::{WorkerSettings, run, shutdown_channel};
use handler::{Handler, Settings};
use producer::queue::QUEUE_URL_ENV;

#[tokio::main]
async fn main() -> ExitCode {
    handler::logging::init();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => return fail(&e.to_string()),
    };
    let Some(queue_url) = std::env::var(QUEUE_URL_ENV).ok().filter(|u| !u.is_empty()) else {
        return fail(&format!("`{QUEUE_URL_ENV}` is not set"));
    };
    let mut worker = WorkerSettings::new(queue_url);
    if let Some(wait) = std::env::var("JOBS_WAIT_SECONDS")
        .ok()
        .and_then(|w| w.parse().ok())
    {
        worker.wait_seconds = wait;
    }
    let config = producer::aws::load_config().await;
    let handler = Handler::new(&config, settings);
    let sqs = aws_sdk_sqs::Client::new(&config);

    let (stop, stopped) = shutdown_channel();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stop requested; finishing the batch in hand");
        let _ = stop.send(true);
    });
    match run(&handler, &sqs, &worker, stopped).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

fn fail(message: &str) -> ExitCode {
    tracing::error!(error = message, "worker cannot run");
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
