//! The shop's web app: the seed's `PurchasesController#remind` as an axum
//! route. The request hands the reminder to the queue and answers at once;
//! the worker sends the mail later.
//!
//! `POST /products/{product_id}/remind` answers `202 Accepted` with the job's
//! id (which `jobs cancel` and `jobs dlq show` take) and the SQS message id.
//! When the job cannot be enqueued it answers with a status that says whose
//! fault it is: `422` for a job that breaks a rule (nothing was sent), `503`
//! with `Retry-After` when SQS may take it later, `500` for a setup problem
//! (no queue, or one that does not exist).

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use producer::aws::ErrorClass;
use producer::{EnqueueError, Jobs};
use shop_jobs::PurchaseReminder;

/// The app's routes, with the jobs client (`Jobs::from_env`, or
/// `Jobs::fake()` in tests) as its state.
pub fn app(jobs: Jobs) -> Router {
    Router::new()
        .route("/products/{product_id}/remind", post(remind))
        .with_state(jobs)
}

/// What the route answers once the job is on the queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reminded {
    pub job_id: String,
    pub message_id: String,
}

async fn remind(
    State(jobs): State<Jobs>,
    Path(product_id): Path<u64>,
) -> Result<(StatusCode, Json<Reminded>), NotEnqueued> {
    let sent = PurchaseReminder::enqueue(&jobs, product_id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Reminded {
            job_id: sent.job_id,
            message_id: sent.message_id,
        }),
    ))
}

/// An [`EnqueueError`] as an HTTP answer.
#[derive(Debug)]
pub struct NotEnqueued(pub EnqueueError);

impl From<EnqueueError> for NotEnqueued {
    fn from(error: EnqueueError) -> Self {
        NotEnqueued(error)
    }
}

impl IntoResponse for NotEnqueued {
    fn into_response(self) -> Response {
        let (status, fields) = match &self.0 {
            EnqueueError::Invalid { errors, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                errors.fields().map(str::to_owned).collect(),
            ),
            EnqueueError::Send {
                class: ErrorClass::Transient,
                ..
            }
            | EnqueueError::UnknownQueue {
                class: ErrorClass::Transient,
                ..
            } => (StatusCode::SERVICE_UNAVAILABLE, Vec::new()),
            EnqueueError::Send { .. }
            | EnqueueError::UnknownQueue { .. }
            | EnqueueError::NoQueue
            | EnqueueError::Routes(_) => (StatusCode::INTERNAL_SERVER_ERROR, Vec::new()),
        };
        let body = Json(serde_json::json!({"error": self.0.to_string(), "fields": fields}));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            (status, [(header::RETRY_AFTER, "1")], body).into_response()
        } else {
            (status, body).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    async fn post(app: Router, uri: &str) -> (StatusCode, Vec<u8>) {
        let response = app
            .oneshot(Request::post(uri).body(Body::empty()).expect("a request"))
            .await
            .expect("an answer");
        let status = response.status();
        let body = response.into_body().collect().await.expect("a body");
        (status, body.to_bytes().to_vec())
    }

    #[tokio::test]
    async fn the_route_enqueues_a_reminder_and_answers_with_its_job_id() {
        let jobs = Jobs::fake();
        let (status, body) = post(app(jobs.clone()), "/products/42/remind").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let reminded: Reminded = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            jobs.enqueued_of::<PurchaseReminder>(),
            [PurchaseReminder { product_id: 42 }]
        );
        assert_eq!(reminded.job_id, jobs.enqueued()[0].envelope.id);
    }

    #[tokio::test]
    async fn a_product_id_that_is_not_a_number_is_refused_with_nothing_sent() {
        let jobs = Jobs::fake();
        let (status, _) = post(app(jobs.clone()), "/products/forty-two/remind").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(jobs.enqueued().is_empty());
    }

    #[tokio::test]
    async fn enqueue_errors_answer_with_whose_fault_it_is() {
        let invalid = EnqueueError::Invalid {
            index: 0,
            job_id: "x".into(),
            errors: producer::ValidationErrors(vec![producer::FieldError::new(
                "delay_seconds",
                "must be at most 900",
            )]),
        };
        let response = NotEnqueued(invalid).into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["fields"], serde_json::json!(["delay_seconds"]));

        let throttled = NotEnqueued(EnqueueError::Send {
            class: ErrorClass::Transient,
            message: "throttled".into(),
        })
        .into_response();
        assert_eq!(throttled.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(throttled.headers()[header::RETRY_AFTER], "1");

        let no_queue = NotEnqueued(EnqueueError::NoQueue).into_response();
        assert_eq!(no_queue.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
