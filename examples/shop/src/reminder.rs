//! The purchase reminder (the seed's `PurchaseReminderJob` and its mailer).
//! Enqueued when a purchase starts; when it runs, days later maybe, it looks
//! the product up and sends nothing if the product has been paid meanwhile.

use handler::{Context, Done, JobError, Perform, Retry};
use producer::{EnqueueError, EnqueueOptions, JobType, Jobs, MailJob};
use serde::{Deserialize, Serialize};

use crate::Shop;
use crate::products::Product;

/// The job's payload: all it carries is the product's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseReminder {
    pub product_id: u64,
}

impl JobType for PurchaseReminder {
    const KIND: &'static str = "purchase_reminder";

    // The seed sends it to a `mailers` queue; this stack has one job queue, so
    // the reminder takes the client's default. A call can still name a queue,
    // a delay, a time or an id.
    fn defaults() -> EnqueueOptions {
        EnqueueOptions::default()
    }
}

impl PurchaseReminder {
    /// `PurchaseReminderJob.enqueue(product_id)`.
    pub async fn enqueue(jobs: &Jobs, product_id: u64) -> Result<String, EnqueueError> {
        Self::enqueue_with(jobs, product_id, EnqueueOptions::default()).await
    }

    /// `PurchaseReminderJob.enqueue(product_id, options)`: the defaults merged with `options`.
    pub async fn enqueue_with(
        jobs: &Jobs,
        product_id: u64,
        options: EnqueueOptions,
    ) -> Result<String, EnqueueError> {
        jobs.enqueue_with(&PurchaseReminder { product_id }, options)
            .await
    }
}

impl Perform<Shop> for PurchaseReminder {
    // A reminder that keeps failing is worth five more tries, not the queue's all.
    const RETRY: Retry = Retry::Limit(5);

    async fn perform(self, cx: &Context<'_, Shop>) -> Result<Done, JobError> {
        let shop = cx.state();
        let product = shop.products.find(self.product_id).await?;
        let done = if product.paid {
            Done::skipped(format!("product {} is paid", product.id))
        } else {
            cx.send_mail(reminder_mail(&shop.sender, &product)).await?;
            Done::done()
        };
        let status = match done {
            Done::Performed => "reminder sent",
            Done::Skipped { .. } => "reminder not sent",
        };
        tracing::info!(
            job_id = cx.job_id(),
            product_id = product.id,
            "PurchaseReminder: product {} - {status}",
            product.id
        );
        Ok(done)
    }
}

/// The reminder as the seed's mailer renders it: to the product's owner, from
/// the shop.
pub fn reminder_mail(sender: &str, product: &Product) -> MailJob {
    MailJob {
        from: sender.to_owned(),
        to: vec![product.owner_email.clone()],
        subject: "Your product is about to expire!".into(),
        text: Some(format!(
            "Your {} (product {}) is about to expire. Complete the purchase to keep it.",
            product.name, product.id
        )),
        ..MailJob::default()
    }
}

#[cfg(test)]
mod tests {
    use handler::testing;
    use producer::aws::ErrorClass;

    use super::*;
    use crate::products::Products;

    fn shop() -> Shop {
        Shop {
            products: Products::in_memory([
                Product {
                    id: 42,
                    name: "Espresso machine".into(),
                    owner_email: "ann@example.com".into(),
                    paid: true,
                },
                Product {
                    id: 7,
                    name: "Coffee grinder".into(),
                    owner_email: "bob@example.com".into(),
                    paid: false,
                },
            ]),
            sender: "shop@example.com".into(),
        }
    }

    #[tokio::test]
    async fn a_paid_product_gets_no_reminder() {
        let run = testing::perform(PurchaseReminder { product_id: 42 }, &shop()).await;
        assert_eq!(
            run.result.expect("runs"),
            Done::skipped("product 42 is paid")
        );
        assert!(run.effects.is_empty(), "{:?}", run.effects);
    }

    #[tokio::test]
    async fn an_unpaid_product_reminds_its_owner() {
        let run = testing::perform(PurchaseReminder { product_id: 7 }, &shop()).await;
        assert_eq!(run.result.as_ref().ok(), Some(&Done::done()));
        let mails = run.mails();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].to, ["bob@example.com"]);
        assert_eq!(mails[0].from, "shop@example.com");
        assert_eq!(mails[0].subject, "Your product is about to expire!");
        assert!(
            mails[0]
                .text
                .as_deref()
                .unwrap_or_default()
                .contains("Coffee grinder"),
            "{:?}",
            mails[0].text
        );
    }

    #[tokio::test]
    async fn a_product_that_does_not_exist_fails_for_good() {
        let run = testing::perform(PurchaseReminder { product_id: 1 }, &shop()).await;
        let error = run.result.expect_err("no such product");
        assert_eq!(error.class(), ErrorClass::Permanent);
        assert_eq!(error.to_string(), "product 1 does not exist");
        assert!(run.effects.is_empty());
    }

    #[tokio::test]
    async fn a_bad_owner_address_is_refused_by_the_mail_checks() {
        let mut shop = shop();
        shop.products = Products::in_memory([Product {
            id: 9,
            name: "Kettle".into(),
            owner_email: "not an address".into(),
            paid: false,
        }]);
        let run = testing::perform(PurchaseReminder { product_id: 9 }, &shop).await;
        let error = run.result.expect_err("refused");
        assert_eq!(error.class(), ErrorClass::Permanent);
        assert!(error.to_string().contains("`job.to[0]`"), "{error}");
        assert!(run.effects.is_empty(), "nothing recorded as sent");
    }

    #[tokio::test]
    async fn enqueueing_records_the_job_with_the_calls_options() {
        let jobs = Jobs::fake();
        PurchaseReminder::enqueue(&jobs, 42).await.expect("taken");
        PurchaseReminder::enqueue_with(
            &jobs,
            7,
            EnqueueOptions::default().delay_seconds(60).id("reminder-7"),
        )
        .await
        .expect("taken");
        let taken = jobs.enqueued();
        assert_eq!(taken.len(), 2);
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
