//! The shop's web app: `SHOP_WEB_ADDR` (127.0.0.1:3000 unless set), jobs to
//! `JOBS_QUEUE_URL`. Stops on SIGTERM or Ctrl-C, after the requests in hand.

use std::process::ExitCode;

use producer::Jobs;

#[tokio::main]
async fn main() -> ExitCode {
    let addr = std::env::var("SHOP_WEB_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let config = producer::aws::load_config().await;
    let jobs = Jobs::from_env(&config);
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on `{addr}`: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("shop-web listening on http://{addr}");
    let served = axum::serve(listener, shop_web::app(jobs))
        .with_graceful_shutdown(stop_requested())
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn stop_requested() {
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
