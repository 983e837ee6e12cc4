//! The purchase reminder's work (the seed's `PurchaseReminderJob#perform` and
//! its mailer). The job type itself is in `shop-jobs`, which the web app
//! shares; the work is here, with the worker's state. When it runs, days
//! later maybe, it looks the product up and sends nothing if the product has
//! been paid meanwhile.

use handler::{Context, Done, JobError, Perform, Retry};
use producer::EnqueueOptions;
use producer::MailJob;
use shop_jobs::{PartnerNotice, PurchaseReminder};

use crate::Shop;
use crate::products::Product;

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
            if shop.partner_webhook.is_some() {
                // One notice per reminder, however often this job is retried.
                let notice = PartnerNotice {
                    product_id: product.id,
                    reminder_id: cx.job_id().to_owned(),
                };
                let id = format!("{}-partner", cx.job_id());
                cx.enqueue_with(&notice, EnqueueOptions::default().id(id))
                    .await?;
            }
            Done::done()
        };
        let status = match done {
            Done::Performed => "reminder sent",
            Done::Skipped { .. } | Done::Snoozed { .. } => "reminder not sent",
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
            partner_webhook: None,
        }
    }

    #[tokio::test]
    async fn a_paid_product_gets_no_reminder() {
        let run = testing::perform(PurchaseReminder { product_id: 42 }, &shop()).await;
        assert_eq!(run.result, Ok(Done::skipped("product 42 is paid")));
        assert!(run.effects.is_empty(), "{:?}", run.effects);
    }

    #[tokio::test]
    async fn an_unpaid_product_reminds_its_owner() {
        let run = testing::perform(PurchaseReminder { product_id: 7 }, &shop()).await;
        assert_eq!(run.result, Ok(Done::done()));
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
        assert_eq!(
            run.result,
            Err(JobError::permanent("product 1 does not exist"))
        );
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
}
