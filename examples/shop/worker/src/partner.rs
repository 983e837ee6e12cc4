//! The partner's webhook after a reminder: a signed JSON POST through
//! `cx.http`, so it gets the `http` kind's guard, `Idempotency-Key`,
//! Standard Webhooks signature and retry rules (a 429 or 5xx comes back, no
//! sooner than its `Retry-After`; another 4xx is dead-lettered with the answer).

use handler::{Context, Done, JobError, Perform};
use producer::HttpJob;
use shop_jobs::PartnerNotice;

use crate::Shop;

impl Perform<Shop> for PartnerNotice {
    async fn perform(self, cx: &Context<'_, Shop>) -> Result<Done, JobError> {
        let Some(webhook) = &cx.state().partner_webhook else {
            return Ok(Done::skipped("no partner webhook is set"));
        };
        cx.http(notice_request(
            &self,
            &webhook.url,
            webhook.sign_with.as_deref(),
        ))
        .await?;
        Ok(Done::done())
    }
}

/// The request a notice sends.
pub fn notice_request(notice: &PartnerNotice, url: &str, sign_with: Option<&str>) -> HttpJob {
    let request = HttpJob::post(url).json(&serde_json::json!({
        "type": "purchase.reminded",
        "product_id": notice.product_id,
        "reminder_id": notice.reminder_id,
    }));
    match sign_with {
        Some(secret) => request.signed_with(secret),
        None => request,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use handler::testing::{self, answer};
    use producer::aws::ErrorClass;

    use super::*;
    use crate::products::Products;
    use crate::{PartnerWebhook, PurchaseReminder};

    fn shop(webhook: Option<&str>) -> Shop {
        Shop {
            products: Products::in_memory([crate::products::Product {
                id: 7,
                name: "Coffee grinder".into(),
                owner_email: "bob@example.com".into(),
                paid: false,
            }]),
            sender: "shop@example.com".into(),
            partner_webhook: webhook.map(|url| PartnerWebhook {
                url: url.into(),
                sign_with: Some("ssm:/jobs/webhooks/partner".into()),
            }),
        }
    }

    fn notice() -> PartnerNotice {
        PartnerNotice {
            product_id: 7,
            reminder_id: "reminder-7".into(),
        }
    }

    #[tokio::test]
    async fn a_reminder_sends_one_notice_under_an_id_of_its_own() {
        let shop = shop(Some("https://partner.example/hooks"));
        let run = testing::inline(PurchaseReminder { product_id: 7 })
            .id("reminder-7")
            .perform(&shop)
            .await;
        assert_eq!(run.result, Ok(Done::done()));
        assert_eq!(run.enqueued_of::<PartnerNotice>(), [notice()]);
        assert_eq!(run.enqueued[0].envelope.id, "reminder-7-partner");
        let without = testing::perform(PurchaseReminder { product_id: 7 }, &self::shop(None)).await;
        assert!(without.enqueued.is_empty());
    }

    #[tokio::test]
    async fn the_notice_is_a_signed_json_post_to_the_partner() {
        let run = testing::perform(notice(), &shop(Some("https://partner.example/hooks"))).await;
        assert_eq!(run.result, Ok(Done::done()));
        let calls = run.http_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].method, "POST");
        assert_eq!(calls[0].url, "https://partner.example/hooks");
        assert_eq!(
            calls[0].sign_with.as_deref(),
            Some("ssm:/jobs/webhooks/partner")
        );
        let body: serde_json::Value =
            serde_json::from_slice(&calls[0].body_bytes().expect("body")).expect("json");
        assert_eq!(body["reminder_id"], "reminder-7");
    }

    #[tokio::test]
    async fn a_busy_partner_is_retried_after_its_retry_after_and_a_4xx_is_final() {
        let shop = shop(Some("https://partner.example/hooks"));
        let mut busy = answer(429, "slow down");
        busy.headers.insert("retry-after", http_value("30"));
        let run = testing::inline(notice()).answer(busy).perform(&shop).await;
        let error = run.result.expect_err("429");
        assert_eq!(error.class(), ErrorClass::Transient);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));

        let run = testing::inline(notice())
            .answer(answer(410, "hook removed"))
            .perform(&shop)
            .await;
        let error = run.result.expect_err("410");
        assert_eq!(error.class(), ErrorClass::Permanent);
        assert!(error.to_string().contains("410") && error.to_string().contains("hook removed"));
    }

    #[tokio::test]
    async fn a_url_the_checks_refuse_fails_before_any_call() {
        let run = testing::perform(notice(), &shop(Some("ftp://partner.example/"))).await;
        assert!(run.http_calls().is_empty());
        let error = run.result.expect_err("refused");
        assert!(error.to_string().contains("`job.url`"), "{error}");
    }

    fn http_value(text: &'static str) -> handler::http::HeaderValue {
        handler::http::HeaderValue::from_static(text)
    }
}
