//! Local: what the local emulators recorded (mails, objects).

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Frame, Pages, plain, render};

#[derive(Template)]
#[template(path = "local.html")]
struct LocalPage {
    frame: Frame,
    mails: Result<Vec<crate::console::local::RecordedMail>, String>,
    bucket: Option<String>,
    objects: Result<Vec<crate::console::local::StoredObject>, String>,
    limit: usize,
}

pub(super) async fn local_page(State(pages): State<Arc<Pages>>) -> Response {
    let console = &pages.console;
    let Some(mode) = &console.local else {
        return plain(
            StatusCode::NOT_FOUND,
            "the Local tab is only there against the local emulators (`--local-mails`, `MOTO_URL`)"
                .into(),
        );
    };
    let mails = crate::console::local::recorded_mails(mode, console.limit).await;
    let objects = match &mode.bucket {
        Some(bucket) => {
            crate::console::local::stored_objects(&console.clients.s3, bucket, console.limit).await
        }
        None => Ok(Vec::new()),
    };
    let page = LocalPage {
        frame: pages.frame("local", None),
        mails,
        bucket: mode.bucket.clone(),
        objects,
        limit: console.limit,
    };
    render(StatusCode::OK, &page)
}
