//! The shop's job types, the seed's `PurchaseReminderJob` among them: each is
//! its payload, its kind name and its defaults. The web app enqueues them; the
//! worker (`shop-worker`) runs them, with `impl Perform<Shop> for
//! PurchaseReminder` in its own crate (the orphan rule allows it there, since
//! `Shop` is the worker's type). So the web app links `producer` alone, not the
//! handler, the Lambda runtime or the SDKs its jobs use.

use producer::{EnqueueError, EnqueueOptions, JobType, Jobs, Sent};
use serde::{Deserialize, Serialize};

/// Reminds a product's owner to finish the purchase: all it carries is the
/// product's id, looked up when the job runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseReminder {
    pub product_id: u64,
}

impl JobType for PurchaseReminder {
    const KIND: &'static str = "purchase_reminder";

    // As the seed's `DEFAULTS = { queue: "mailers" }`: mail must not wait
    // behind a backlog of slow work. The name is the stack's (`JOBS_QUEUE_URLS`);
    // a call can still name another queue, a delay, a time or an id.
    fn defaults() -> EnqueueOptions {
        EnqueueOptions::default().queue("mailers")
    }
}

/// Tells the shop's partner that a purchase was reminded: a signed webhook
/// (`PartnerNotice`'s `perform` in the worker calls `cx.http`). A job of its
/// own, so that a partner that is down retries the notice, never the mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerNotice {
    pub product_id: u64,
    /// The reminder job that sent the mail.
    pub reminder_id: String,
}

impl JobType for PartnerNotice {
    const KIND: &'static str = "partner_notice";
}

/// The nightly products report: every product, whether it is paid, as CSV
/// in `bucket` under `prefix`, one object per run named by the time the run
/// was scheduled for. A periodic job: the jobs stack's `ProductsReport`
/// schedule puts one on the `default` queue at each firing, its id and
/// `created_at` the firing's time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductsReport {
    pub bucket: String,
    /// `reports/products/` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

impl JobType for ProductsReport {
    const KIND: &'static str = "products_report";
}

impl PurchaseReminder {
    /// `PurchaseReminderJob.enqueue(product_id)`.
    pub async fn enqueue(jobs: &Jobs, product_id: u64) -> Result<Sent, EnqueueError> {
        Self::enqueue_with(jobs, product_id, EnqueueOptions::default()).await
    }

    /// `PurchaseReminderJob.enqueue(product_id, options)`: the defaults merged with `options`.
    pub async fn enqueue_with(
        jobs: &Jobs,
        product_id: u64,
        options: EnqueueOptions,
    ) -> Result<Sent, EnqueueError> {
        jobs.enqueue_with(&PurchaseReminder { product_id }, options)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn enqueueing_records_the_job_with_the_calls_options() {
        let jobs = Jobs::fake();
        let sent = PurchaseReminder::enqueue(&jobs, 42).await.expect("taken");
        PurchaseReminder::enqueue_with(
            &jobs,
            7,
            EnqueueOptions::default().delay_seconds(60).id("reminder-7"),
        )
        .await
        .expect("taken");
        let taken = jobs.enqueued();
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].envelope.id, sent.job_id);
        assert_eq!(
            taken[0].queue, "mailers",
            "its own default, as the seed's job"
        );
        assert_eq!(taken[0].envelope.kind(), "purchase_reminder");
        assert_eq!(
            taken[0].envelope.job.payload(),
            serde_json::json!({"product_id": 42})
        );
        assert_eq!(taken[1].envelope.id, "reminder-7");
        assert_eq!(taken[1].delay_seconds, 60);
        assert_eq!(
            jobs.enqueued_of::<PurchaseReminder>(),
            [
                PurchaseReminder { product_id: 42 },
                PurchaseReminder { product_id: 7 }
            ]
        );
    }
}
